"""Every sentence the bot says to a resident in the conversation, in one place: natural,
polite, short Chinese.

Pure functions of their arguments, so the dialogue tests read the same words residents see.
The wording of ticket status pushes lives with the ticket rules (:mod:`policies.tickets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from policies.tickets import STATUS_LABELS  # one vocabulary: the ticket rules'
from privacy import mask_phone

__all__ = [
    "FOLLOW_REMINDER",
    "MENU",
    "STATUS_LABELS",
    "WELCOME",
    "ask_slot",
    "case_summary",
    "emergency_guidance",
    "faq_answer",
    "faq_choices",
    "follow_update",
    "following",
    "nearby_problem",
    "status_list",
    "ticket_created",
]

MENU = (
    "您可以直接告诉我：\n"
    "1. 反映问题，比如“小区门口路灯坏了”\n"
    "2. 咨询社保、医保、民政等政策\n"
    "3. 查询您反映问题的办理进度\n"
    "需要人工服务请回复“转人工”。"
)
WELCOME = "您好，欢迎关注！这里是12345接诉即办服务号。\n" + MENU
GREETING = "您好！请问有什么可以帮您？\n" + MENU
THANKS = "不客气，能帮到您就好。还有其他事情随时告诉我。"
ASK_REPORT = "请直接告诉我您要反映的问题和具体地点，也可以先发一张照片。"
GOODBYE = "好的，祝您生活愉快，再见！有事随时找我。"
NOTHING_TO_CANCEL = "好的。目前没有正在办理的事项，有需要随时告诉我。"
CANCELLED = "好的，这次的登记已取消，没有生成工单。有需要随时再找我。"
NOT_UNDERSTOOD = "抱歉，我没太明白您的意思。\n" + MENU
OUT_OF_SCOPE = "抱歉，这个问题超出了我能办理的范围。我主要负责政务服务方面的事情。\n" + MENU
HANDOFF_STARTED = "好的，正在为您转接人工客服，工作人员会尽快回复您，请稍候。"
HANDOFF_AFTER_MISUNDERSTANDING = "抱歉，我几次都没能理解您的意思，已为您转接人工客服，请稍候。"
HANDOFF_STUCK = "抱歉，我这边没能登记完整，已为您转接人工客服，工作人员会接着帮您办理，请稍候。"
HANDOFF_UPSET = "非常抱歉给您带来不好的体验，已为您转接人工客服，工作人员会尽快处理。"
#: sent to the resident when staff hand the chat back to the bot
HANDOFF_CLOSED = "本次人工服务已结束，如还有问题，直接留言即可。"
OFFER_PERSON = "如果不方便说明，也可以回复“转人工”，由工作人员为您登记。"
ASK_WHAT_TO_CHANGE = "好的，请告诉我需要修改哪一项：地址、问题描述还是联系电话？"
PHOTO_ATTACHED = "照片收到了，已附在这次登记里。"
PHOTO_WITHOUT_CASE = "照片收到了。请用文字说一下是什么问题、在什么地方，我来帮您登记。"
URGENT_DECLINED = "好的，请务必注意安全。如有需要随时找我。"
RATING_THANKS = "感谢您的评价！您的反馈会帮助我们把工作做得更好。"
RATING_REOPENED = "非常抱歉没能让您满意。工单已重新办理，并提交上一级部门跟进，我们会尽快给您答复。"
#: Solved, but not satisfied with how it was handled: a supervisor looks at it.
RATING_SUPERVISED = "非常抱歉办理过程没能让您满意。您的意见已转交督办人员复核，我们会认真改进。"
SOLVED_ASK_RATING = (
    "好的，感谢您的确认！您对这次的办理过程满意吗？请回复：满意 / 基本满意 / 不满意"
)
UNSOLVED_REOPENED = (
    "非常抱歉问题还没有解决。工单已重新交给承办部门办理，您说的情况也一并转达了，"
    "我们会尽快给您答复。"
)
FOLLOW_UP_THANKS = "太好了，感谢您的答复！如果问题再次出现，随时告诉我们。"
FOLLOW_UP_RECURRED = "非常抱歉问题又出现了。已为您重新登记并交承办部门办理，我们会尽快处理。"
RESUME = "我们继续刚才的登记："
CONFIRM_PENDING = "刚才的登记还没提交，确认无误请回复“确认”。"
CONFIRM_REMINDER = "刚才的登记还没提交，确认无误请回复“确认”，需要修改请直接告诉我。"
UNSUPPORTED = "抱歉，暂时还不支持这种消息。您可以发文字、语音、图片或位置给我。"
VOICE_NOT_RECOGNISED = "抱歉，这条语音没能识别出来，麻烦您再说一遍，或者直接打字告诉我。"
VIDEO_RECEIVED = "视频收到了。请用文字简单说一下是什么问题、在什么地方。"
LINK_RECEIVED = "链接收到了。请问您想反映或咨询什么问题？"

_SLOT_QUESTIONS = {
    "location": "请问具体在什么位置？比如“幸福小区3号楼东门”或“人民路88号门口”。",
    "description": "请简单描述一下是什么问题、持续多久了。",
    "phone": "请留一个联系电话，方便工作人员和您联系。",
}
_SLOT_RETRY = {
    "location": (
        "麻烦说得再具体一点：哪个小区几栋、哪条路几号，或者附近有什么标志性的地方？"
        "比如“枫林绿洲3号楼楼下”“书院路和韶山路交叉口”。也可以直接发送微信位置。"
    ),
    "description": "麻烦再具体说一下是什么问题。",
    "phone": "这个号码好像不对，请提供11位手机号或带区号的固定电话。",
}
#: The answer to "where?" was no place at all (a number, "不知道", "对").
LOCATION_NOT_A_PLACE = (
    "抱歉，我没看出具体位置。请告诉我小区和楼栋、道路和门牌号，或附近的标志性地点，"
    "比如“星河湾B区12栋”；也可以直接发送微信位置。"
)
_SLOT_NAMES = {"location": "地址", "description": "问题", "phone": "电话"}


def place_received(place: str) -> str:
    return f"收到位置：{place}。请问这里发生了什么问题？"


def ask_slot(slot: str, *, retry: bool = False) -> str:
    return (_SLOT_RETRY if retry else _SLOT_QUESTIONS)[slot]


def ask_reuse_phone(phone: str) -> str:
    return f"还用您上次留的电话 {mask_phone(phone)} 联系您吗？回复“是”，或直接发新号码。"


def case_started(category_label: str) -> str:
    return f"好的，我来帮您登记“{category_label}”的问题。"


def case_summary(
    category_label: str,
    location: str,
    description: str,
    phone: str,
    *,
    urgent: bool = False,
    photos: int = 0,
) -> str:
    lines = [
        "请核对一下登记内容：",
        f"类型：{category_label}" + ("（紧急）" if urgent else ""),
        f"地址：{location}",
        f"问题：{description}",
        f"电话：{mask_phone(phone)}",
    ]
    if photos:
        lines.append(f"照片：{photos}张")
    lines.append("确认无误请回复“确认”；需要修改直接告诉我，比如“地址不对，是8栋”。")
    return "\n".join(lines)


def slot_updated(slot: str) -> str:
    return f"好的，{_SLOT_NAMES[slot]}已更新。"


def ticket_created(ticket_id: str, department: str | None, *, urgent: bool = False) -> str:
    where = f"已转交{department}" if department else "已转交相关部门"
    speed = "会优先处理" if urgent else "会尽快处理"
    return (
        f"已为您登记，工单号：{ticket_id}。{where}，{speed}，有进展会第一时间通知您。"
        "您也可以随时发送“查询进度”了解办理情况。"
    )


def ticket_deferred() -> str:
    """The database is out of reach: the complaint is kept, the number follows."""
    return "您反映的问题已经记下了。系统正忙，工单号稍后会发给您，请留意消息。"


def ticket_filed_later(ticket_id: str, department: str | None, *, urgent: bool = False) -> str:
    """Pushed once a complaint kept while the system was busy is filed."""
    created = ticket_created(ticket_id, department, urgent=urgent)
    return "您之前反映的问题已登记，" + created.removeprefix("已为您登记，")


MESSAGE_TOO_LONG = "抱歉，这条消息太长了，我没能收下。请分成几条发送，每条说一件事就好。"
STATE_UNAVAILABLE = "抱歉，系统刚才开了个小差，没能接上您的话，请稍等几秒再发一次。"
STATUS_UNAVAILABLE = "抱歉，系统正忙，暂时查不到办理进度，请稍后再试。"
HANDOFF_UNAVAILABLE = "抱歉，人工客服暂时联系不上，请稍后再试；紧急情况请拨打12345。"
#: a handler failed (the fault is logged); never a WeChat error page
ERROR_REPLY = "抱歉，系统刚才出了点小问题，请稍后再发一次；着急的话也可以拨打12345热线。"
#: the resident's previous message is still being handled (another process holds it)
BUSY_REPLY = "您的上一条消息还在处理中，请稍等片刻再发送。"


def ticket_failed() -> str:
    return "抱歉，登记时系统出了点问题，您的信息已保存，请稍后回复“确认”再试，或拨打12345热线。"


def emergency_guidance(text: str) -> str:
    """First reply to an emergency: which number to call, at once."""
    numbers: list[str] = []
    if any(
        w in text
        for w in ("火", "烟", "燃气", "煤气", "天然气", "爆炸", "困", "卡", "掉进", "落水")
    ):
        numbers.append("119")
    if any(w in text for w in ("伤", "血", "晕", "昏", "倒", "不省人事", "呼吸", "摔", "病")):
        numbers.append("120")
    if any(w in text for w in ("打架", "抢", "偷", "砍", "持刀", "闹事", "威胁", "斗殴", "报警")):
        numbers.append("110")
    if not numbers:
        numbers = ["110", "119", "120"]
    gas = (
        "燃气泄漏请不要开关电器、不要用明火，开窗通风后到室外拨打。"
        if any(w in text for w in ("燃气", "煤气", "天然气"))
        else ""
    )
    call = "、".join(numbers)
    return (
        f"情况紧急，请立即拨打{call}！{gas}请先确保自身安全，远离危险区域。\n"
        "需要的话，我可以同时为您登记一个紧急工单通知社区，回复“是”即可。"
    )


def faq_answer(title: str, answer: str) -> str:
    return f"【{title}】\n{answer.strip()}"


def faq_choices(titles: Sequence[str]) -> str:
    lines = ["您想了解的是哪一项？请回复序号："]
    lines += [f"{i}. {title}" for i, title in enumerate(titles, start=1)]
    return "\n".join(lines)


def status_list(tickets: Sequence[Mapping[str, str]], *, asked_id: str | None = None) -> str:
    """``tickets``: dicts with ``id``, ``category_label``, ``status``."""
    if not tickets:
        if asked_id:
            return f"没有查到工单号 {asked_id} 的记录，请核对后再发给我。"
        return "您目前没有正在办理的工单。有问题需要反映可以直接告诉我。"
    lines = ["您的工单办理情况："]
    for ticket in tickets:
        label = STATUS_LABELS.get(ticket["status"], ticket["status"])
        lines.append(f"· {ticket['id']}（{ticket['category_label']}）：{label}")
    return "\n".join(lines)


# -- a problem others already reported (issue 15) ----------------------------------------------

_WORKING = frozenset({"received", "dispatched", "in_progress", "reopened"})
FOLLOW_REMINDER = (
    "请回复“1”关注已有的工单，或回复“2”单独提交您的工单；不需要了请回复“取消”。"
)


def nearby_problem(residents: int, ticket_id: str, status: str, *, mine: bool = False) -> str:
    """Before filing: an open ticket about the same problem nearby; follow it or file."""
    doing = "正在办理" if status in _WORKING else f"目前{STATUS_LABELS.get(status, status)}"
    if mine:
        first = f"您之前已经反映过这个问题，工单 {ticket_id} {doing}。"
    elif residents > 0:
        first = f"这个问题附近已有 {residents} 位居民反映，工单 {ticket_id} {doing}。"
    else:
        first = f"这个问题附近已有居民反映，工单 {ticket_id} {doing}。"
    return (
        first + "\n"
        "回复“1”关注这张工单：办理进展会推送给您，也算您一份反映；\n"
        "回复“2”单独提交您的工单（和它不是同一个问题时请选这个）。"
    )


def following(ticket_id: str, *, already: bool = False) -> str:
    if already:
        return f"您已经在关注工单 {ticket_id} 了，办理进展会第一时间推送给您。"
    return f"好的，已为您关注工单 {ticket_id}，您的反映也记下了。办理进展会第一时间推送给您。"


def follow_failed() -> str:
    return "抱歉，系统正忙，没能关注成功。请稍后回复“1”再试，或回复“2”单独提交。"


def follow_update(
    *,
    ticket_id: str,
    category_label: str,
    status: str,
    department: str | None = None,
    note: str | None = None,
) -> str | None:
    """A status change of a ticket the resident follows (None: nothing worth a message)."""
    subject = f"您关注的“{category_label}”问题（工单号{ticket_id}）"
    outcome = (note or "").strip().rstrip("。.")
    if status == "dispatched":
        return f"{subject}已派单至{department or '相关部门'}处理。"
    if status == "in_progress":
        return f"{subject}正在处理中。"
    if status == "resolved":
        done = f"，处理结果：{outcome}" if outcome else ""
        return f"{subject}已办结{done}。感谢您的关注！如问题仍未解决，可以直接告诉我。"
    if status == "reopened":
        return f"{subject}已重新办理，并提交上一级部门跟进。"
    if status == "rejected":
        why = f"，原因：{outcome}" if outcome else ""
        return f"很抱歉，{subject}未能受理{why}。如仍需反映，请直接告诉我。"
    return None
