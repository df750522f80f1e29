"""Text of face swipe, the family account and the voucher password (merged into ``ui.i18n.CATALOG``)."""

from __future__ import annotations

IDENTITY_CATALOG: dict[str, dict[str, str]] = {
    "idle.face_swipe": {"zh_CN": "没带卡和手机？刷脸就医", "en": "No card? Swipe face"},
    "consent.face_swipe_title": {"zh_CN": "刷脸就医", "en": "Swipe your face"},
    "consent.face_swipe_body": {
        "zh_CN": "请输入身份证号并看向摄像头，由国家医保服务平台比对公安人像库确认身份。\n"
                 "人脸图像只用于本次核验，加密发送，不在本机保存。\n不愿刷脸可插社保卡、出示医保码，或到人工窗口：{window}",
        "en": "Type your ID number, then look at the camera.\n"
              "The national platform checks your face; nothing is kept here.\n"
              "Or use your card, your code, or the counter: {window}"},
    "enter_id.title": {"zh_CN": "请输入您的身份证号", "en": "Please type your ID card number"},
    "enter_id.body": {"zh_CN": "共 18 位，最后一位可能是 X", "en": "18 characters; the last may be X"},
    "enter_id.confirm": {"zh_CN": "确定", "en": "OK"},
    "enter_id.problem.length": {"zh_CN": "请输入完整的 18 位身份证号", "en": "Please type all 18 characters"},
    "enter_id.problem.characters": {"zh_CN": "前 17 位是数字，只有最后一位可能是 X",
                                    "en": "The first 17 are digits; only the last may be X"},
    "enter_id.problem.birth_date": {"zh_CN": "号码中的出生日期不对，请检查", "en": "The birth date in the number is not right: please check"},
    "enter_id.problem.checksum": {"zh_CN": "号码有误，请逐位核对", "en": "The number is not right: please check each character"},
    "keypad.delete": {"zh_CN": "删除", "en": "Delete"},
    "face_swipe.title": {"zh_CN": "刷脸就医：请看摄像头", "en": "Swipe face: please look at the camera"},
    "face_swipe.body": {"zh_CN": "国家医保服务平台正在核对您的身份", "en": "The national insurance platform is checking who you are"},
    "face_swipe.retry": {"zh_CN": "未能确认，请再试一次（第 {n} 次）", "en": "Not confirmed: please try again (attempt {n})"},
    "reason.face_swipe.attempts_exhausted": {
        "zh_CN": "刷脸未能确认您的身份。请插社保卡、出示医保码，或到人工窗口办理",
        "en": "Your face could not be confirmed. Please insert your card, show your insurance code, or go to the counter"},
    "reason.face_swipe.locked": {
        "zh_CN": "该身份证号刷脸失败次数过多，已暂时锁定。请插社保卡、出示医保码，或到人工窗口办理",
        "en": "Too many failed face checks for this ID number: locked for now. Please insert your card, show your insurance code, or go to the counter"},
    "face_swipe.retry_after": {"zh_CN": "（约 {minutes} 分钟后可再刷脸）", "en": " (face swipe again in about {minutes} min)"},
    "counter.face_swipe_body": {"zh_CN": "您选择了不刷脸。可以插社保卡、出示医保码，或到人工窗口办理：{window}",
                                "en": "You chose not to swipe your face. Insert your card, show your insurance code, or go to the counter: {window}"},
    "reason.face_swipe.rate_limited": {"zh_CN": "本机刷脸请求过于频繁，请稍后再试，或到人工窗口办理",
                                       "en": "Too many face checks from this machine: please try again shortly, or go to the counter"},
    "reason.face_swipe.unknown_person": {"zh_CN": "未查到该身份证号的参保信息，请到人工窗口办理",
                                         "en": "No insurance record for this ID number: please go to the counter"},
    "reason.face_swipe.liveness_required": {"zh_CN": "本机未能完成活体检测，暂不能刷脸。请插社保卡或出示医保码",
                                            "en": "This machine could not check liveness, so face swipe is not possible. Please insert your card or show your insurance code"},
    "reason.voucher.password_locked": {"zh_CN": "医保码支付密码错误次数过多，已锁定。本次未扣费，请到人工窗口办理",
                                       "en": "The insurance code password was wrong too often and is locked. Nothing was charged: please go to the counter"},
    "family.title": {"zh_CN": "亲情账户：请家人出示医保码", "en": "Family account: a family member's code"},
    "family.body": {"zh_CN": "医保平台没有您可用的照片。请已绑定亲情关系的家人打开医保码，在扫码口出示，由家人授权为您支付",
                    "en": "The platform has no usable photo of you. A family member bound to you can show their insurance code to the scanner to authorise the payment for you"},
    "family.checking": {"zh_CN": "正在核对亲情关系…", "en": "Checking the family binding…"},
    "family.refused.not_bound": {"zh_CN": "该医保码未与您绑定亲情关系。请换一位家人，或到人工窗口办理",
                                 "en": "This code is not bound to you as family. Try another family member, or go to the counter"},
    "family.refused.expired": {"zh_CN": "家人的医保码已过期，请刷新后再出示", "en": "The family member's code has expired: refresh it and show it again"},
    "family.refused.unknown": {"zh_CN": "无法识别该医保码，请刷新后再出示", "en": "This code is not recognised: refresh it and show it again"},
    "family.refused.unknown_person": {"zh_CN": "未查到您的参保信息，请到人工窗口办理", "en": "No insurance record for you: please go to the counter"},
    "family.refused.other": {"zh_CN": "这不是医保码，请出示家人的医保电子凭证", "en": "That is not an insurance code: please show the family member's voucher"},
    "password.title": {"zh_CN": "请输入医保码支付密码", "en": "Please enter your insurance code password"},
    "password.body": {"zh_CN": "本次费用 {amount} 元，超过免密额度，需要输入 6 位医保电子凭证密码",
                      "en": "This bill is {amount} yuan, above the limit without a password: enter your 6-digit insurance code password"},
    "password.confirm": {"zh_CN": "确定", "en": "OK"},
    "password.wrong": {"zh_CN": "密码错误，还可以再试 {n} 次", "en": "Wrong password: {n} more tries"},
    "password.six_digits": {"zh_CN": "请输入 6 位数字", "en": "Please enter 6 digits"},
    "password.checking": {"zh_CN": "正在验证…", "en": "Checking…"},
}
