"""What the scale history is drawn from: the chronic conditions followed up online, per
department, with the regimens doctors prescribe for them (drugs of the shipped formulary), and
the shares of each outcome.

Every regimen is checked against the prescribing rules (`prescriptions.rules`) when a run
starts, so a drug that leaves the formulary or a dose over its maximum stops the run there.
"""

from dataclasses import dataclass
from decimal import Decimal

from prescriptions.models import Frequency


@dataclass(frozen=True)
class Dose:
    drug: str  # formulary code
    dose: Decimal
    frequency: str
    instructions: str = ""


@dataclass(frozen=True)
class Condition:
    icd10: str
    regimens: tuple[tuple[Dose, ...], ...]
    subjective: str
    plan: str
    # Who is seen for it: "child" (under 14 at the visit), "female", or anyone.
    patients: str = ""


def _d(drug: str, dose: str, frequency: str, instructions: str = "") -> Dose:
    return Dose(drug, Decimal(dose), frequency, instructions)


F = Frequency
AMLODIPINE = _d("C08CA01-TAB-5MG", "5", F.QD)
LOSARTAN = _d("C09CA01-TAB-50MG", "50", F.QD)
VALSARTAN = _d("C09CA03-CAP-80MG", "80", F.QD)
METOPROLOL = _d("C07AB02-SRT-47.5MG", "47.5", F.QD, "早晨服用")
ATORVASTATIN = _d("C10AA05-TAB-20MG", "20", F.QN, "睡前服用")
ROSUVASTATIN = _d("C10AA07-TAB-10MG", "10", F.QN)
METFORMIN = _d("A10BA02-TAB-500MG", "500", F.TID, "随餐服用")
METFORMIN_BID = _d("A10BA02-TAB-500MG", "500", F.BID, "随餐服用")
METFORMIN_SR = _d("A10BA02-SRT-500MG", "1000", F.QD, "晚餐时服用")
MONTELUKAST = _d("R03DC03-TAB-10MG", "10", F.QN)
LORATADINE = _d("R06AX13-TAB-10MG", "10", F.QD)
MOMETASONE_NASAL = _d("R01AD09-NAS-50UG", "2", F.QD, "每侧鼻孔各1喷")
SALBUTAMOL = _d("R03AC02-INH-100UG", "2", F.PRN, "喘息发作时吸入")
TIOTROPIUM = _d("R03BB04-INH-2.5UG", "2", F.QD)
FERROUS = _d("B03AA06-TAB-100MG", "100", F.TID, "饭后服用")

# Department code → conditions seen there. Regimens hold no two drugs of one ATC group and no
# listed interaction, and stay under every maximum daily dose.
CONDITIONS: dict[str, tuple[Condition, ...]] = {
    "GEN": (
        Condition(
            "I10",
            ((AMLODIPINE,), (LOSARTAN,), (AMLODIPINE, LOSARTAN)),
            "高血压病史，规律服药，家庭自测血压多在130-140/80-90mmHg，无头晕头痛。",
            "继续降压治疗，低盐饮食，每日监测血压并记录。",
        ),
        Condition(
            "N40",
            (
                (_d("G04CA02-CAP-0.2MG", "0.2", F.QD, "睡前服用"),),
                (
                    _d("G04CA02-CAP-0.2MG", "0.2", F.QD, "睡前服用"),
                    _d("G04CB01-TAB-5MG", "5", F.QD),
                ),
            ),
            "前列腺增生，夜尿2次，排尿较前通畅。",
            "继续药物治疗，避免久坐及饮酒，定期复查前列腺超声。",
        ),
        Condition(
            "M17.9",
            ((_d("M01AX05-CAP-250MG", "500", F.TID),),),
            "双膝关节痛，上下楼梯时明显，休息后缓解。",
            "继续口服氨基葡萄糖，适当减重，避免爬山及深蹲。",
        ),
        Condition(
            "J30.4",
            ((MOMETASONE_NASAL, LORATADINE), (LORATADINE,)),
            "变应性鼻炎，晨起喷嚏、流清涕，接触花粉后加重。",
            "继续鼻喷激素及抗组胺治疗，避免接触过敏原。",
        ),
    ),
    "CARD": (
        Condition(
            "I10",
            ((AMLODIPINE,), (VALSARTAN,), (METOPROLOL, AMLODIPINE), (AMLODIPINE, LOSARTAN)),
            "高血压复诊，规律服药，血压控制尚可，偶有晨起头胀。",
            "继续当前降压方案，低盐低脂饮食，监测血压。",
        ),
        Condition(
            "I25.1",
            (
                (_d("B01AC04-TAB-75MG", "75", F.QD), ATORVASTATIN),
                (_d("C01DA14-SRT-60MG", "60", F.QD, "早晨服用"), METOPROLOL, ATORVASTATIN),
            ),
            "冠心病病史，近期无胸痛发作，活动耐量同前。",
            "继续抗血小板及调脂治疗，胸痛发作时立即就近就医。",
        ),
        Condition(
            "E78.5",
            ((ATORVASTATIN,), (ROSUVASTATIN,)),
            "高脂血症，规律服用他汀类药物，无肌痛乏力。",
            "继续调脂治疗，三个月后复查血脂及肝功能。",
        ),
        Condition(
            "I50.9",
            ((_d("C09DX04-TAB-100MG", "100", F.BID), METOPROLOL),),
            "慢性心力衰竭，近期无夜间阵发性呼吸困难，双下肢无水肿。",
            "继续抗心衰治疗，限制钠盐及液体摄入，每日称体重。",
        ),
    ),
    "ENDO": (
        Condition(
            "E11.9",
            (
                (METFORMIN,),
                (METFORMIN_SR,),
                (METFORMIN_BID, _d("A10BB09-SRT-30MG", "30", F.QD, "早餐时服用")),
                (METFORMIN, _d("A10BF01-TAB-50MG", "50", F.TID, "与第一口饭同嚼服")),
                (METFORMIN_BID, _d("A10BH01-TAB-100MG", "100", F.QD)),
                (METFORMIN_BID, _d("A10BK01-TAB-10MG", "10", F.QD)),
                (METFORMIN_BID, _d("A10AE04-INJ-300IU", "12", F.QN, "睡前皮下注射")),
            ),
            "2型糖尿病，空腹血糖6-8mmol/L，无多饮多尿，无低血糖发作。",
            "继续降糖治疗，控制饮食、适量运动，三个月后复查糖化血红蛋白。",
        ),
        Condition(
            "E03.9",
            ((_d("H03AA01-TAB-50UG", "50", F.QD, "晨起空腹服用"),),),
            "甲状腺功能减退，规律服用左甲状腺素，无乏力怕冷。",
            "继续替代治疗，六周后复查甲状腺功能。",
        ),
        Condition(
            "E05.9",
            ((_d("H03BB02-TAB-10MG", "10", F.TID),),),
            "甲状腺功能亢进，心悸较前好转，体重稳定。",
            "继续抗甲状腺药物治疗，每月复查血常规、肝功能及甲状腺功能。",
        ),
        Condition(
            "M10.9",
            ((_d("M04AA03-TAB-40MG", "40", F.QD),), (_d("M04AA01-TAB-100MG", "100", F.TID),)),
            "痛风，近三个月无急性发作，血尿酸较前下降。",
            "继续降尿酸治疗，多饮水，避免高嘌呤饮食及饮酒。",
        ),
    ),
    "RESP": (
        Condition(
            "J45.9",
            ((_d("R03AK06-INH-50-250UG", "1", F.BID, "吸入后漱口"), MONTELUKAST), (SALBUTAMOL,)),
            "支气管哮喘，近一月夜间憋醒1次，日常活动不受限。",
            "继续吸入治疗，随身携带缓解药物，避免接触冷空气及过敏原。",
        ),
        Condition(
            "J44.9",
            ((TIOTROPIUM,), (TIOTROPIUM, SALBUTAMOL)),
            "慢性阻塞性肺疾病，活动后气促同前，无发热咳脓痰。",
            "继续长效支气管扩张剂治疗，坚持呼吸功能锻炼，戒烟。",
        ),
        Condition(
            "J30.4",
            ((MOMETASONE_NASAL,), (MOMETASONE_NASAL, LORATADINE)),
            "变应性鼻炎，鼻塞流涕较前减轻。",
            "继续鼻喷激素治疗，注意正确喷鼻方法。",
        ),
    ),
    "GAST": (
        Condition(
            "K29.5",
            (
                (_d("A02BC01-CAP-20MG", "20", F.BID, "早晚餐前服用"),),
                (
                    _d("A03FA03-TAB-10MG", "10", F.TID, "餐前服用"),
                    _d("A02BC02-TAB-40MG", "40", F.QD),
                ),
            ),
            "慢性胃炎，上腹胀痛较前减轻，无黑便。",
            "继续抑酸及对症治疗，规律饮食，忌辛辣刺激。",
        ),
        Condition(
            "K21.9",
            ((_d("A02BC05-TAB-20MG", "20", F.QD, "早餐前服用"),),),
            "胃食管反流，反酸烧心较前好转。",
            "继续抑酸治疗，睡前3小时不进食，抬高床头。",
        ),
        Condition(
            "B18.1",
            (
                (_d("J05AF10-TAB-0.5MG", "0.5", F.QD, "空腹服用"),),
                (_d("J05AF13-TAB-25MG", "25", F.QD),),
            ),
            "慢性乙型肝炎，规律抗病毒治疗，无乏力纳差。",
            "继续抗病毒治疗，不可自行停药，每三个月复查肝功能及HBV-DNA。",
        ),
    ),
    "NEUR": (
        Condition(
            "G43.9",
            (
                (_d("N07CA03-CAP-5MG", "5", F.QN),),
                (_d("N02CC03-TAB-2.5MG", "2.5", F.PRN, "头痛发作时服用"),),
            ),
            "偏头痛，近一月发作2次，程度较前减轻。",
            "继续预防性治疗，规律作息，记录头痛日记。",
        ),
        Condition(
            "G40.9",
            ((_d("N03AX14-TAB-500MG", "500", F.BID),),),
            "癫痫，规律服药，近半年无发作。",
            "继续抗癫痫治疗，不可自行减停药物，避免熬夜。",
        ),
        Condition(
            "G20",
            ((_d("N04BA02-TAB-250MG", "125", F.TID, "餐前1小时服用"),),),
            "帕金森病，静止性震颤同前，日常生活基本自理。",
            "继续多巴胺替代治疗，坚持康复锻炼，注意防跌倒。",
        ),
        Condition(
            "F32.9",
            ((_d("N06AB10-TAB-10MG", "10", F.QD),), (_d("N06AB06-TAB-50MG", "50", F.QD),)),
            "抑郁发作，情绪较前好转，睡眠改善，无消极念头。",
            "继续抗抑郁治疗，足疗程服药，定期随访。",
        ),
    ),
    "DERM": (
        Condition(
            "L20.9",
            (
                (_d("D07AC13-CRM-5G", "0.5", F.QD, "薄涂于患处"),),
                (_d("D11AH01-OIN-10G", "0.5", F.BID, "薄涂于患处"), LORATADINE),
            ),
            "特应性皮炎，皮疹及瘙痒较前减轻。",
            "继续外用药物治疗，加强保湿，避免搔抓。",
        ),
        Condition(
            "L70.0",
            ((_d("D10AD03-CRM-30G", "0.5", F.QN, "睡前薄涂于患处"),),),
            "寻常痤疮，新发皮疹减少。",
            "继续外用治疗，注意面部清洁及防晒。",
        ),
    ),
    "PAED": (
        Condition(
            "J45.9",
            ((_d("R03DC03-GRA-4MG", "4", F.QN, "睡前冲服"),),),
            "儿童哮喘，近期无喘息发作，夜间睡眠好。",
            "继续控制治疗，避免接触过敏原，呼吸道感染时及时就诊。",
            patients="child",
        ),
        Condition(
            "J30.4",
            ((_d("R01AD09-NAS-50UG", "1", F.QD, "每侧鼻孔各1喷"),),),
            "儿童变应性鼻炎，鼻塞流涕较前减轻。",
            "继续鼻喷激素治疗，家长协助正确使用。",
            patients="child",
        ),
    ),
    "TCM": (
        Condition(
            "K59.0",
            ((_d("A06AD11-SOL-100ML", "15", F.QD, "早餐后服用"),),),
            "便秘，排便2-3日一次，较前改善。",
            "继续通便治疗，多食蔬果，适当运动，配合腹部按摩。",
        ),
        Condition(
            "M17.9",
            ((_d("M01AX05-CAP-250MG", "500", F.TID),),),
            "膝骨关节炎，关节酸痛遇寒加重。",
            "继续口服药物治疗，配合艾灸及膝关节功能锻炼。",
        ),
        Condition(
            "K29.5",
            ((_d("A02BC01-CAP-20MG", "20", F.QD, "早餐前服用"),),),
            "慢性胃炎，胃脘隐痛，纳差。",
            "继续治疗，饮食清淡，规律作息。",
        ),
    ),
    "GYN": (
        Condition(
            "D50.9",
            ((FERROUS, _d("B03BB01-TAB-5MG", "5", F.QD)), (FERROUS,)),
            "缺铁性贫血，乏力较前好转，月经量较多。",
            "继续补铁治疗，一个月后复查血常规及铁蛋白。",
            patients="female",
        ),
        Condition(
            "M81.9",
            (
                (
                    _d("M05BA04-TAB-70MG", "70", F.QW, "每周固定一天晨起空腹服用"),
                    _d("A11CC04-CAP-0.25UG", "0.25", F.QD),
                ),
            ),
            "绝经后骨质疏松，腰背痛较前减轻，无新发骨折。",
            "继续抗骨质疏松治疗，补充钙剂，适当日晒，防跌倒。",
            patients="female",
        ),
        Condition(
            "E28.2",
            ((METFORMIN,),),
            "多囊卵巢综合征，月经周期较前规律。",
            "继续二甲双胍治疗，控制体重，三个月后复查性激素。",
            patients="female",
        ),
    ),
}

# Share of consultations per department, in hundredths: consultation i is seen in the department
# its residue i mod 100 falls in, so every department's count is known without coordination.
DEPARTMENT_SHARES: dict[str, int] = {
    "GEN": 16,
    "CARD": 20,
    "ENDO": 18,
    "RESP": 10,
    "GAST": 10,
    "NEUR": 7,
    "DERM": 6,
    "PAED": 4,
    "TCM": 4,
    "GYN": 5,
}

# Outcomes of a booked consultation (the rest is completed), per thousand.
CANCELLED_PER_MILLE = 60
NO_SHOW_PER_MILLE = 40
TERMINATED_PER_MILLE = 15
# Of completed consultations, how many end with a prescription (per thousand).
PRESCRIBED_PER_MILLE = 800
# Of approved prescriptions: left unpaid until they expire; of pickups, never collected (refunded
# by operations once the prescription expired); of deliveries, failed and returned (refunded).
UNPAID_PER_MILLE = 110
PICKUP_NOT_COLLECTED_PER_MILLE = 10
DELIVERY_FAILED_PER_MILLE = 20
DELIVERY_PER_MILLE = 400  # of paid orders without a cold-chain drug
EXTENDED_VALIDITY_PER_MILLE = 80  # signed with 2-3 days' validity (with a reason)

CANCEL_REASONS = ("患者临时有事", "患者要求改期", "患者病情变化改线下就诊", "终端设备故障")
TERMINATION_NOTES = {
    "condition_changed": "患者症状较前明显加重，建议尽快至线下专科门诊就诊。",
    "first_visit": "患者为首次出现相关症状，不符合互联网复诊条件，建议线下首诊。",
    "unsuitable": "需完善体格检查及辅助检查，不适宜互联网诊疗，建议线下就诊。",
    "emergency": "患者出现急症表现，已建议立即拨打120或至最近急诊就诊。",
}
SUPPLY_REASONS = {
    14: "慢性病病情稳定，按规定开具两周用量",
    28: "慢性病长期用药，病情稳定，开具四周用量",
}
VALIDITY_REASON = "患者行动不便，延长处方有效期以便取药"
ISSUING_INSTITUTIONS = (
    "广东省第二人民医院",
    "广东省人民医院",
    "中山大学附属第一医院",
    "南方医科大学南方医院",
    "广州医科大学附属第一医院",
    "深圳市人民医院",
    "佛山市第一人民医院",
    "东莞市人民医院",
    "汕头大学医学院第一附属医院",
    "湛江中心人民医院",
)
PICKUP_NOT_COLLECTED_REFUND_REASON = "患者未取药，处方已失效，全额退款"
DELIVERY_FAILURE_REASONS = ("收件人电话无法接通", "收件地址有误", "收件人拒收")
DELIVERY_LOCATIONS = ("广州转运中心", "区域分拨中心", "派送网点")
