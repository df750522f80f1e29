"""All user-facing text, in Chinese (default) and English, through one mechanism: ``Translator.tr``.

Widgets never hold literal text; a test fails when a key lacks a language or a
``tr("...")`` call names a missing key.
"""

from __future__ import annotations

from collections.abc import Callable

from ui.errand_catalog import ERRAND_CATALOG
from ui.identity_catalog import IDENTITY_CATALOG

LANGUAGES = ("zh_CN", "en")

CATALOG: dict[str, dict[str, str]] = {
    "app.title": {"zh_CN": "医保自助服务", "en": "Medical Insurance Self-Service"},
    "bar.call_staff": {"zh_CN": "呼叫工作人员", "en": "Call staff"},
    "bar.language": {"zh_CN": "English", "en": "中文"},
    "bar.elderly_on": {"zh_CN": "长辈模式", "en": "Large text"},
    "bar.elderly_off": {"zh_CN": "标准模式", "en": "Standard text"},
    "bar.online": {"zh_CN": "● 网络正常", "en": "● Online"},
    "bar.offline": {"zh_CN": "✕ 网络中断", "en": "✕ Offline"},
    "confirm.no_receipt": {"zh_CN": "注意：打印机暂不可用，本次无法打印纸质凭证（结算记录已保存，可到人工窗口补打）",
                           "en": "Note: the printer is not ready, no paper receipt this time (the record is kept; the counter can print it)"},
    "receipt.reprint": {"zh_CN": "重新打印", "en": "Print again"},
    "bar.no_voice": {"zh_CN": "语音提示不可用", "en": "Voice prompts unavailable"},
    "bar.checking": {"zh_CN": "… 正在检查网络", "en": "… Checking the network"},
    "bar.pending": {"zh_CN": "待上传 {n} 笔", "en": "{n} queued"},
    "bar.queue_recovered": {"zh_CN": "⚠ 结算队列文件已损坏并另存，请通知技术人员",
                            "en": "⚠ Queue file was damaged and set aside: tell the technician"},
    "bar.demo": {"zh_CN": "演示模式：模拟设备，非真实结算", "en": "DEMO: simulated devices, no real settlement"},
    "bar.cancel_call": {"zh_CN": "取消呼叫", "en": "Cancel the call"},
    "bar.staff_called": {"zh_CN": "已呼叫工作人员，请稍候", "en": "Staff have been called, please wait"},
    "idle.no_reader_title": {"zh_CN": "读卡器暂不可用，请出示医保码", "en": "Card reader unavailable: please show your insurance code"},
    "idle.no_reader_body": {"zh_CN": "在下方扫码口出示医保电子凭证（医保码）；没有医保码请到人工窗口：{window}",
                            "en": "Show your electronic insurance voucher to the scanner below; without one, please go to the counter: {window}"},
    "idle.out_of_service_title": {"zh_CN": "本机暂停服务", "en": "This machine is out of service"},
    "idle.out_of_service_body": {"zh_CN": "暂时无法连接医保系统。请到人工窗口办理：{window}",
                                 "en": "The insurance system cannot be reached right now. Please go to the counter: {window}"},
    "idle.title": {"zh_CN": "请插入社保卡", "en": "Please insert your social-security card"},
    "idle.body": {"zh_CN": "芯片朝上，插入下方读卡口；或在扫码口出示医保电子凭证（医保码）",
                  "en": "Chip facing up, into the slot below; or show your medical-insurance code to the scanner"},
    "idle.demo_scan": {"zh_CN": "模拟扫医保码（演示）", "en": "Scan demo insurance code"},
    "idle.demo_insert": {"zh_CN": "模拟插卡（演示）", "en": "Insert demo card"},
    "identify.title": {"zh_CN": "正在读卡，请勿拔卡", "en": "Reading your card, please leave it in"},
    "identify.body": {"zh_CN": "正在查询参保信息…", "en": "Looking up your insurance record…"},
    "consent.title": {"zh_CN": "刷脸核验身份", "en": "Face check"},
    "consent.body": {
        "zh_CN": "为防止冒用医保，需核对您的面部与登记照片。\n图像只在本机比对，不保存、不上传。\n不愿刷脸可到人工窗口办理：{window}",
        "en": "To stop misuse of insurance, we compare your face with your enrolled photo.\n"
              "The image is compared on this machine only, never stored or sent.\n"
              "You may go to the counter instead: {window}",
    },
    "consent.agree": {"zh_CN": "同意刷脸", "en": "I agree"},
    "consent.decline": {"zh_CN": "去人工窗口", "en": "Use the counter"},
    "face.title": {"zh_CN": "请正对摄像头", "en": "Please look at the camera"},
    "face.body": {"zh_CN": "保持脸在框内，稍候即可", "en": "Keep your face inside the frame"},
    "face.retry": {"zh_CN": "未能确认，请再试一次（第 {n} 次）", "en": "Not confirmed, trying again (attempt {n})"},
    "face.liveness_demo": {"zh_CN": "演示：回放画面无法做活体检测，已跳过",
                           "en": "Demo: a replayed picture cannot pass liveness; skipped"},
    "face.prompt.none": {"zh_CN": "请把脸移到框内", "en": "Please bring your face into the frame"},
    "face.prompt.one_person": {"zh_CN": "请一个人站在摄像头前", "en": "Only one person in front of the camera, please"},
    "face.prompt.centre": {"zh_CN": "请把脸放在框的中间", "en": "Please move your face to the middle of the frame"},
    "face.prompt.closer": {"zh_CN": "请靠近一些", "en": "Please come a little closer"},
    "face.prompt.more_light": {"zh_CN": "光线太暗，请抬起头或请工作人员开灯", "en": "Too dark: please raise your head or ask staff for light"},
    "face.prompt.less_light": {"zh_CN": "光线太强，请避开强光", "en": "Too bright: please move out of the glare"},
    "face.prompt.look_straight": {"zh_CN": "请正对摄像头", "en": "Please look straight at the camera"},
    "face.prompt.open_eyes": {"zh_CN": "请睁开眼睛", "en": "Please open your eyes"},
    "face.prompt.hold_still": {"zh_CN": "请保持不动", "en": "Please hold still"},
    "face.prompt.hold": {"zh_CN": "很好，请保持", "en": "Good, please stay like that"},
    "face.prompt.backlight": {"zh_CN": "背后光线太强，请换个方向站，不要背对窗户或灯", "en": "Too much light behind you: please turn so the window or lamp is not behind you"},
    "face.prompt.uncover": {"zh_CN": "请暂时摘下口罩、帽子或墨镜，正对摄像头", "en": "Please lower your mask and take off a hat or sunglasses for a moment, facing the camera"},
    "face.challenge.blink": {"zh_CN": "请眨一下眼睛", "en": "Please blink once"},
    "face.challenge.turn_left": {"zh_CN": "请慢慢向左转头，再转回来", "en": "Please turn your head slowly to your left, then back"},
    "face.challenge.turn_right": {"zh_CN": "请慢慢向右转头，再转回来", "en": "Please turn your head slowly to your right, then back"},
    "login.pick.title": {"zh_CN": "医生登录", "en": "Clinician login"},
    "login.pick.body": {"zh_CN": "请在列表中点选您的姓名，或输入姓名、工号查找", "en": "Tap your name in the list, or search by name or staff number"},
    "login.pick.search": {"zh_CN": "输入姓名或工号", "en": "Name or staff number"},
    "login.pick.no_match": {"zh_CN": "没有找到“{text}”：请检查姓名或工号，或联系信息科录入", "en": "No one matches \"{text}\": check the name or staff number, or ask IT to enrol you"},
    "login.pick.empty": {"zh_CN": "本工作站还没有录入医生：请联系信息科（kiosk-provision enroll-staff）", "en": "No clinician is enrolled on this workstation yet: ask IT (kiosk-provision enroll-staff)"},
    "login.cancel": {"zh_CN": "取消", "en": "Cancel"},
    "login.it_detail": {"zh_CN": "供信息科：代码 {code}", "en": "For IT: code {code}"},
    "login.it_distance": {"zh_CN": "，距院区围栏 {metres} 米", "en": ", {metres} m from the hospital's fence"},
    "login.demo_banner": {"zh_CN": "演示模式：回放摄像头，未做活体检测；模拟定位", "en": "DEMO: replayed camera, liveness not checked; simulated position"},
    "login.face.title": {"zh_CN": "刷脸核验身份", "en": "Face check"},
    "login.position.title": {"zh_CN": "正在确认位置", "en": "Checking your position"},
    "login.position.body": {"zh_CN": "请稍候：登录需要在本院范围内", "en": "Please wait: login requires being inside this hospital"},
    "login.session.title": {"zh_CN": "已登录（工号 {staff_no}）", "en": "Logged in (staff no. {staff_no})"},
    "login.session.body": {"zh_CN": "离开时请退出；无人操作或离开座位时会自动锁定", "en": "Log out when you leave; the workstation locks when idle or when you are away"},
    "login.logout": {"zh_CN": "退出登录", "en": "Log out"},
    "login.ok": {"zh_CN": "知道了", "en": "OK"},
    "login.help.position": {"zh_CN": "定位不可用或不可信时无法登录：请联系信息科管理员处理，不要绕过", "en": "Login needs a trustworthy position: please call the IT administrator; do not work around it"},
    "login.help.outside": {"zh_CN": "请在院内的工作站登录；如您确在院内，请联系信息科管理员", "en": "Log in at a workstation inside the hospital; if you are inside, call the IT administrator"},
    "login.help.face": {"zh_CN": "请正对摄像头重试；多次失败请联系信息科管理员", "en": "Please face the camera and try again; if it keeps failing, call the IT administrator"},
    "login.reason.face_mismatch": {"zh_CN": "面部与登记信息不符", "en": "Your face does not match the enrolled clinician"},
    "login.reason.face_uncertain": {"zh_CN": "未能确认面部，请重试", "en": "Your face could not be confirmed; please try again"},
    "login.reason.liveness_failed": {"zh_CN": "未通过活体检测", "en": "The liveness check did not pass"},
    "login.reason.unknown_staff": {"zh_CN": "未找到该工号的登记信息", "en": "No enrolment found for this staff number"},
    "login.reason.no_face": {"zh_CN": "摄像头前没有检测到人脸", "en": "No face seen by the camera"},
    "login.reason.face_unavailable": {"zh_CN": "面部核验暂时不可用", "en": "The face check is unavailable"},
    "login.reason.enrol_again": {"zh_CN": "您的面部登记需要重新办理，请联系信息科", "en": "Your face enrolment must be renewed: please ask the IT department"},
    "login.reason.timeout": {"zh_CN": "核验超时", "en": "The check took too long"},
    "login.reason.no_fix": {"zh_CN": "没有定位信号", "en": "No position fix"},
    "login.reason.stale_fix": {"zh_CN": "定位信息已过时", "en": "The position fix is too old"},
    "login.reason.poor_accuracy": {"zh_CN": "定位精度不足", "en": "The position is not accurate enough"},
    "login.reason.fix_2d": {"zh_CN": "定位只有二维信息，要求三维定位", "en": "Only a 2D fix; a 3D fix is required"},
    "login.reason.teleport": {"zh_CN": "位置跳变异常", "en": "The position jumped implausibly"},
    "login.reason.outside_geofence": {"zh_CN": "当前位置不在本院范围内", "en": "You are outside the hospital's area"},
    "login.reason.near_edge": {"zh_CN": "位置靠近院区边界，无法确认在院内", "en": "Too close to the hospital boundary to be sure you are inside"},
    "login.reason.site_unproven": {"zh_CN": "本机登记地点未经核验，请联系信息科", "en": "This workstation's site is not registered: call IT"},
    "login.reason.site_contradiction": {"zh_CN": "实时定位与本机登记地点不符（已报警）", "en": "The live position contradicts this workstation's registered site (alarm raised)"},
    "login.reason.unavailable": {"zh_CN": "定位服务不可用", "en": "Positioning is unavailable"},
    "face.no_camera": {"zh_CN": "摄像头无画面", "en": "No camera picture"},
    "services.title": {"zh_CN": "{name}，您好", "en": "Hello, {name}"},
    "services.body": {"zh_CN": "个人账户余额：{balance} 元\n请选择要办理的业务", "en": "Account balance: ¥{balance}\nWhat would you like to do?"},
    "services.pay": {"zh_CN": "缴费结算", "en": "Pay outpatient fees"},
    "insurance.title": {"zh_CN": "请选择本次使用的医保", "en": "Which insurance do you want to use today?"},
    "insurance.record": {"zh_CN": "{type}\n{region}（{locality}）  余额 {balance} 元",
                         "en": "{type}\n{region} ({locality})  balance ¥{balance}"},
    "visit.title": {"zh_CN": "本次就诊是慢特病门诊吗？", "en": "Is this visit for your chronic disease?"},
    "visit.chronic": {"zh_CN": "是，慢特病门诊：{name}\n备案编码 {code}，有效期至 {until}",
                      "en": "Yes, for my {name}\nfiled as {code}, valid until {until}"},
    "visit.open_ended": {"zh_CN": "长期", "en": "no end date"},
    "visit.ordinary": {"zh_CN": "不是，普通门诊\n按普通门诊待遇结算", "en": "No, an ordinary visit\npaid as ordinary outpatient"},
    "locality.local": {"zh_CN": "本地参保", "en": "insured here"},
    "locality.in_province": {"zh_CN": "省内异地", "en": "elsewhere in this province"},
    "locality.cross_province": {"zh_CN": "跨省异地", "en": "another province"},
    "services.insured": {"zh_CN": "{type} · {region}（{locality}）", "en": "{type} · {region} ({locality})"},
    "benefit.title": {"zh_CN": "本次不能在本机医保结算", "en": "This visit cannot be paid with insurance here"},
    "benefit.not_filed": {"zh_CN": "您在外省参保，尚未办理异地就医备案。\n请扫码在手机上备案后再来，或到 {window} 办理。",
                          "en": "You are insured in another province and have not filed to be treated here.\nScan the code to file on your phone, or go to {window}."},
    "benefit.paused": {"zh_CN": "您的医保自 {since} 起暂停。\n请到 {window} 咨询，或联系参保地医保经办机构。",
                       "en": "Your insurance is paused since {since}.\nPlease ask at {window} or at your insurance office."},
    "benefit.no_cross_province_outpatient": {"zh_CN": "您的参保地未开通跨省门诊直接结算。\n请到 {window} 办理，或留好票据回参保地报销。",
                                             "en": "Your insured region does not settle outpatient visits here directly.\nPlease go to {window}, or keep the receipts to claim at home."},
    "benefit.refused": {"zh_CN": "参保地未通过本次待遇检查：{detail}\n请到 {window} 办理。",
                        "en": "Your insured region did not approve this visit: {detail}\nPlease go to {window}."},
    "benefit.scan": {"zh_CN": "手机扫码\n办理备案", "en": "Scan to file\non your phone"},
    "services.none": {"zh_CN": "您没有待缴费用", "en": "You have no fees to pay"},
    "fees.previous_page": {"zh_CN": "上一页", "en": "Previous page"},
    "fees.next_page": {"zh_CN": "下一页", "en": "Next page"},
    "fees.page": {"zh_CN": "第 {page} / {pages} 页", "en": "Page {page} of {pages}"},
    "fees.title": {"zh_CN": "待缴费用", "en": "Fees to pay"},
    "fees.total": {"zh_CN": "合计：{total} 元", "en": "Total: ¥{total}"},
    "fees.col_item": {"zh_CN": "项目", "en": "Item"},
    "fees.col_qty": {"zh_CN": "数量", "en": "Qty"},
    "fees.col_amount": {"zh_CN": "金额（元）", "en": "Amount (¥)"},
    "fees.confirm": {"zh_CN": "确认，去结算", "en": "Confirm and settle"},
    "preparing.title": {"zh_CN": "正在预结算…", "en": "Calculating your share…"},
    "preparing.body": {"zh_CN": "正在与医保系统核算，请稍候", "en": "Checking with the insurance system, please wait"},
    "confirm.title": {"zh_CN": "请确认支付金额", "en": "Please confirm the payment"},
    "confirm.body": {
        "zh_CN": "费用总额：{total} 元\n{funds}\n个人自付：{cash} 元",
        "en": "Total: ¥{total}\n{funds}\nYour own share: ¥{cash}",
    },
    "confirm.audit": {"zh_CN": "医保提醒：{warnings}", "en": "Insurance notice: {warnings}"},
    "confirm.fund": {"zh_CN": "{words}支付：{amount} 元", "en": "{words}: ¥{amount}"},
    "confirm.no_funds": {"zh_CN": "医保不支付本次费用", "en": "Insurance pays nothing of this bill"},
    "confirm.cancel_prompt": {"zh_CN": "确定不缴费了吗？本次不会扣费。离开前请取回您的社保卡。",
                              "en": "Stop without paying? Nothing will be charged. Take your card with you."},
    "confirm.cancel_sure": {"zh_CN": "确定取消", "en": "Yes, stop"},
    "confirm.pay": {"zh_CN": "确认支付", "en": "Pay now"},
    "settling.title": {"zh_CN": "正在结算，请勿离开", "en": "Settling, please stay"},
    "settling.body": {"zh_CN": "结算完成前请不要离开", "en": "Please wait until it is done"},
    "receipt.title": {"zh_CN": "结算成功", "en": "Settled"},
    "receipt.body": {"zh_CN": "个人自付：{cash} 元{paid}\n账户余额：{balance} 元\n{take}", "en": "Your own share: ¥{cash}{paid}\nBalance: ¥{balance}\n{take}"},
    # what to take away: a slip only when one was printed on paper, the card only when one was inserted
    "receipt.take.slip_card": {"zh_CN": "请取走凭条和社保卡", "en": "Please take your slip and your card"},
    "receipt.take.slip": {"zh_CN": "请取走凭条", "en": "Please take your slip"},
    "receipt.take.card": {"zh_CN": "请取回社保卡。本机不打印凭条，需要凭条请到{window}", "en": "Please take your card. This kiosk prints no slip: ask at {window} for one"},
    "receipt.take.none": {"zh_CN": "本机不打印凭条，需要凭条请到{window}", "en": "This kiosk prints no slip: ask at {window} for one"},
    "confirm.cash_at_counter": {"zh_CN": "本机暂不能收取个人现金 {cash} 元：请到{window}结算缴费，本机不扣费", "en": "This kiosk cannot take your own share of ¥{cash}: please settle and pay at {window}; nothing is charged here"},
    "confirm.understood": {"zh_CN": "知道了，去窗口缴费", "en": "OK, I will pay at the counter"},
    "receipt.paid_by": {"zh_CN": "（已通过{method}付款）", "en": " (paid by {method})"},
    "receipt.queued_paid_title": {"zh_CN": "已付款，医保结算稍后自动完成", "en": "Paid: settlement completes shortly"},
    "receipt.queued_paid_body": {
        "zh_CN": "您已支付 {amount} 元。网络恢复后本机自动完成结算，不会重复扣款。请保留凭条（排队号 {ref}）",
        "en": "You paid ¥{amount}; the kiosk settles it once the network is back, never charging twice. Keep the slip (ref {ref})",
    },
    "interrupted.settled_title": {"zh_CN": "您刚才的缴费已经完成", "en": "Your last payment went through"},
    "interrupted.settled_body": {
        "zh_CN": "本机刚才中断了，但您的医保结算已经完成，不用再付款。\n合计 {total} 元，医保支付 {fund} 元，个人支付 {cash} 元。\n需要凭条请到{window}补打（凭证号 {ref}）",
        "en": "The kiosk stopped for a moment, but your settlement is done: nothing more to pay.\nTotal ¥{total}, insurance ¥{fund}, your share ¥{cash}.\nFor a slip, ask at {window} (ref {ref})",
    },
    "interrupted.settling_title": {"zh_CN": "您刚才的缴费已记录", "en": "Your last payment is recorded"},
    "interrupted.settling_body": {
        "zh_CN": "本机刚才中断了。您的结算已保存，本机正在提交医保，不用再付款，也不会重复扣款。\n凭证号 {ref}；如有疑问请到{window}",
        "en": "The kiosk stopped for a moment. Your settlement is saved and being sent: do not pay again, you will not be charged twice.\nRef {ref}; questions: {window}",
    },
    "interrupted.not_settled_title": {"zh_CN": "您刚才的缴费没有完成", "en": "Your last payment did not go through"},
    "interrupted.not_settled_body": {
        "zh_CN": "本机刚才中断了，这次缴费没有完成医保结算。如已支付个人部分，会原路退回。\n请重新插卡办理，或到{window}（凭证号 {ref}）",
        "en": "The kiosk stopped for a moment and this payment was not settled. Anything you paid is returned.\nPlease start again, or go to {window} (ref {ref})",
    },
    "method.wechat": {"zh_CN": "微信支付", "en": "WeChat Pay"},
    "method.alipay": {"zh_CN": "支付宝", "en": "Alipay"},
    "method.unionpay": {"zh_CN": "云闪付", "en": "UnionPay"},
    "method.card": {"zh_CN": "银行卡", "en": "bank card"},
    "pay.title": {"zh_CN": "请支付自付部分 {amount} 元", "en": "Please pay your share: ¥{amount}"},
    "pay.title_no_amount": {"zh_CN": "请支付自付部分", "en": "Please pay your share"},
    "pay.scan_qr": {"zh_CN": "用微信或支付宝扫描左侧二维码", "en": "Scan this code with WeChat or Alipay"},
    "pay.card": {"zh_CN": "请在下方银行卡终端插卡或挥卡，并输入密码", "en": "Insert or tap your bank card on the terminal below and enter your PIN"},
    "pay.hint.declined.card_only": {"zh_CN": "本机只收银行卡：请在下方终端插卡或挥卡", "en": "This machine takes bank cards only: use the terminal below"},
    "pay.show_code": {"zh_CN": "或打开付款码，对准下方扫码口", "en": "Or show your payment code to the scanner below"},
    "pay.countdown": {"zh_CN": "请在 {s} 秒内完成支付", "en": "Please pay within {s} s"},
    "pay.demo_phone": {"zh_CN": "模拟手机扫码支付（演示）", "en": "Pay with the demo phone"},
    "pay.cancel": {"zh_CN": "取消支付", "en": "Cancel payment"},
    "pay.hint.opening": {"zh_CN": "正在生成支付二维码…", "en": "Preparing the payment code…"},
    "pay.hint.charging": {"zh_CN": "正在扣款，请稍候…", "en": "Charging, please wait…"},
    "pay.hint.confirm_in_app": {"zh_CN": "请在手机上确认付款", "en": "Please confirm the payment on your phone"},
    "pay.hint.not_payment_code": {"zh_CN": "这不是付款码：请在微信或支付宝中打开“付款码”",
                                  "en": "That is not a payment code: open the payment code in WeChat or Alipay"},
    "pay.hint.declined.balance": {"zh_CN": "余额不足，请换一种支付方式", "en": "Not enough balance: please pay another way"},
    "pay.hint.declined.code_expired": {"zh_CN": "付款码已过期，请刷新后再出示", "en": "The payment code has expired: refresh it and show it again"},
    "pay.hint.declined.code_invalid": {"zh_CN": "付款码无效，请刷新后再试", "en": "That payment code was not accepted: refresh it and try again"},
    "pay.hint.declined": {"zh_CN": "支付未成功，未扣款：请重试或换一种方式", "en": "The payment did not go through, nothing was taken: try again or pay another way"},
    "refund.title": {"zh_CN": "已退款", "en": "Your payment was returned"},
    "refund.body": {
        "zh_CN": "医保结算未能完成，您支付的 {amount} 元已原路退回（一般 1-3 个工作日到账）。\n如需帮助请到人工窗口：{window}",
        "en": "The insurance settlement could not be completed. Your payment of ¥{amount} has been returned to where it came from (usually within 1-3 working days).\nFor help, go to the counter: {window}",
    },
    "receipt.queued_title": {"zh_CN": "网络中断，结算已排队", "en": "Network down: settlement queued"},
    "receipt.queued_body": {
        "zh_CN": "尚未结算完成。请取走排队凭条（排队号 {ref}），到人工窗口确认：{window}",
        "en": "Not settled yet. Take the slip (queue ref {ref}) to the counter to confirm: {window}",
    },
    "receipt.print_failed": {"zh_CN": "凭条打印失败：请装纸后点“重新打印”，或到人工窗口补打", "en": "The slip did not print: load paper and press Print again, or ask at the counter"},
    "receipt.done": {"zh_CN": "完成", "en": "Done"},
    "error.title": {"zh_CN": "无法继续办理", "en": "We cannot continue"},
    "error.body": {"zh_CN": "{reason}\n请到人工窗口办理：{window}", "en": "{reason}\nPlease go to the counter: {window}"},
    "error.retry_title": {"zh_CN": "请再试一次", "en": "Please try again"},
    "error.retry_body": {"zh_CN": "{reason}\n如仍不行，可出示医保码，或到人工窗口：{window}",
                         "en": "{reason}\nIf it still does not work, show your insurance code or go to the counter: {window}"},
    "counter.title": {"zh_CN": "人工窗口为您办理", "en": "The counter will help you"},
    "counter.body": {"zh_CN": "请到 {window} 办理。\n请带好您的社保卡，谢谢。", "en": "Please go to {window}.\nTake your card with you. Thank you."},
    "error.code": {"zh_CN": "错误代码 E{code}", "en": "Error code E{code}"},
    "error.back": {"zh_CN": "返回首页", "en": "Back to start"},
    "reason.gateway_unreachable": {"zh_CN": "医保系统暂时无法连接", "en": "The insurance system cannot be reached"},
    "reason.payment_cancelled": {"zh_CN": "支付已取消，未扣款", "en": "The payment was cancelled; no money was taken"},
    "reason.payment_timeout": {"zh_CN": "支付超时，未扣款", "en": "The time to pay ran out; no money was taken"},
    "reason.payment_unavailable": {"zh_CN": "暂时无法在本机支付，未扣款", "en": "Paying at this machine is not possible right now; no money was taken"},
    "reason.consent_declined": {"zh_CN": "您选择了人工办理", "en": "You chose the counter"},
    "reason.face_attempts_exhausted": {"zh_CN": "多次未能确认面部", "en": "Your face could not be confirmed"},
    "reason.face_mismatch": {"zh_CN": "面部与登记照片不符，请到人工窗口办理", "en": "Your face does not match the photo on record: please go to the counter"},
    "reason.card": {"zh_CN": "社保卡无法读取，请确认芯片朝上后重新插卡", "en": "The card could not be read: insert it chip up and try again"},
    "reason.card_removed": {"zh_CN": "读卡时卡被拔出，请重新插卡", "en": "The card was removed while reading: insert it again"},
    "reason.card_mute": {"zh_CN": "卡片没有响应：请确认芯片朝上、插到底后重新插卡",
                         "en": "The card does not respond: insert it chip up, all the way in, and try again"},
    "reason.reader_offline": {"zh_CN": "读卡器暂时无法使用，请呼叫工作人员", "en": "The card reader is not working: please call staff"},
    "reason.not_ssc": {"zh_CN": "这不是社保卡", "en": "This is not a social-security card"},
    "reason.card_expired": {"zh_CN": "社保卡已过有效期", "en": "This card has expired"},
    "reason.face": {"zh_CN": "面部核验无法完成", "en": "The face check could not be completed"},
    "reason.printer": {"zh_CN": "打印机故障", "en": "The printer has a fault"},
    "reason.storage": {"zh_CN": "本机暂时无法安全保存结算，未扣费", "en": "This machine cannot store the payment safely; nothing was charged"},
    "voucher.empty": {"zh_CN": "没有扫到内容，请重新出示医保码", "en": "Nothing was read: show your code again"},
    "voucher.binary": {"zh_CN": "无法识别，请打开医保App出示医保码", "en": "Unreadable: open the insurance app and show your code"},
    "voucher.link": {"zh_CN": "这是网址二维码，请出示医保电子凭证", "en": "That is a web link: please show your medical-insurance code"},
    "voucher.payment_code": {"zh_CN": "这是付款码，请出示医保电子凭证（不是付款码）",
                             "en": "That is a payment code: please show your medical-insurance code instead"},
    "voucher.length": {"zh_CN": "二维码不完整，请刷新医保码后重试", "en": "The code is incomplete: refresh it in the app and try again"},
    "voucher.expired": {"zh_CN": "医保码已过期，请在App中刷新后重新出示（截图无效）", "en": "The code has expired: refresh it in the app and show it again (screenshots do not work)"},
    "voucher.unknown": {"zh_CN": "无法识别此医保码，请刷新后重试或使用社保卡", "en": "This code is not recognised: refresh it and try again, or use your social-security card"},
    "voucher.charset": {"zh_CN": "这不是医保电子凭证，请出示医保码", "en": "That is not a medical-insurance code"},
    "reason.gateway_access": {"zh_CN": "本机暂时无法办理医保业务（已通知工作人员），未扣费",
                              "en": "This machine cannot reach insurance services right now (staff are told); nothing was charged"},
    "reason.other": {"zh_CN": "系统故障", "en": "A system fault occurred"},
    "common.cancel": {"zh_CN": "取消", "en": "Cancel"},
    "common.countdown": {"zh_CN": "{s} 秒后返回首页", "en": "Returning to start in {s} s"},
    "common.more_time": {"zh_CN": "我还需要时间", "en": "I need more time"},
}
CATALOG.update(IDENTITY_CATALOG)  # face swipe, family account, voucher password: ui/identity_catalog.py
CATALOG.update(ERRAND_CATALOG)  # the services menu's errands: ui/errand_catalog.py

# error code -> reason key (patient-facing); codes per kiosk.errors
_REASONS = {101: "reason.card_removed", 102: "reason.card_mute", 103: "reason.not_ssc", 105: "reason.card_expired",
            106: "reason.card", 110: "reason.reader_offline", 401: "reason.gateway_unreachable",
            405: "reason.gateway_access"}


def known_key(prefix: str, name: str, fallback: str = "other") -> str:
    """``prefix + name`` when the catalog has it, else ``prefix + fallback``: a reason the catalog does not
    name gets the general text (``prefix`` ends with its dot, e.g. ``"invoice.failed."``)."""
    return prefix + name if prefix + name in CATALOG else prefix + fallback


def reason_key(code: int, message: str) -> str | None:
    """The catalog key explaining an error to the patient, or None when ``message`` is the gateway's own text."""
    if f"reason.{message}" in CATALOG:
        return f"reason.{message}"
    if message.startswith("voucher.") and message in CATALOG:
        return message  # a refused scan: say what the patient held up and what to show instead
    if code in _REASONS:
        return _REASONS[code]
    if code == 410:
        return None  # a business refusal: show err_msg as the gateway wrote it
    area = {1: "reason.card", 2: "reason.face", 3: "reason.printer", 4: "reason.gateway_unreachable",
            5: "reason.storage"}
    return area.get(code // 100, "reason.other")


class Translator:
    def __init__(self, language: str = "zh_CN") -> None:
        self.language = language
        self._listeners: list[Callable[[], None]] = []

    def tr(self, key: str, **values: object) -> str:
        text = CATALOG[key][self.language]
        return text.format(**values) if values else text

    def set_language(self, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language}")
        self.language = language
        for listener in list(self._listeners):
            listener()

    def toggle(self) -> None:
        self.set_language("en" if self.language == "zh_CN" else "zh_CN")

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)
