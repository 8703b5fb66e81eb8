"""Static data the demo set is drawn from.

Region codes are the real GB/T 2260 codes of Guangdong's districts and counties; they become the
first six digits of generated resident ID numbers, so each one must be accepted by python-stdnum
for the birth years it is used with (`tests/core/test_seed_demo.py` checks every code and name).
"""

from dataclasses import dataclass

from accounts.models import DoctorTitle, PharmacistTitle
from clinics.models import FacilityType

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed for newcomers; demo data only
DEMO_TERMINAL_SECRET = "demo-terminal-secret"  # noqa: S105 - the one printed terminal credential
DEMO_SIGNING_PIN = "246810"  # printed by seed_demo; every demo signer's PIN
DEFAULT_SEED = 2026

PROVINCE = "广东省"

HOSPITAL_CODE = "GD2H"
HOSPITAL_NAME = "广东省第二人民医院"
HOSPITAL_NAME_EN = "Guangdong Second Provincial General Hospital"
HOSPITAL_ADDRESS = "广东省广州市海珠区新港中路466号"
# The hospital's own district: licence numbers carry the region where the doctor registered.
HOSPITAL_REGION_CODE = "440105"


@dataclass(frozen=True)
class DepartmentSpec:
    code: str
    name: str
    name_en: str
    consultation_fee_fen: int


DEPARTMENTS = (
    DepartmentSpec("GEN", "全科医学科", "General Medicine", 2000),
    DepartmentSpec("CARD", "心血管内科", "Cardiology", 5000),
    DepartmentSpec("ENDO", "内分泌科", "Endocrinology", 3500),
    DepartmentSpec("RESP", "呼吸与危重症医学科", "Respiratory and Critical Care Medicine", 3500),
    DepartmentSpec("GAST", "消化内科", "Gastroenterology", 3500),
    DepartmentSpec("NEUR", "神经内科", "Neurology", 4500),
    DepartmentSpec("DERM", "皮肤科", "Dermatology", 3000),
    DepartmentSpec("PAED", "儿科", "Paediatrics", 3000),
    DepartmentSpec("TCM", "中医科", "Traditional Chinese Medicine", 2500),
    DepartmentSpec("GYN", "妇科", "Gynaecology", 3500),
)
TCM_DEPARTMENT_CODE = "TCM"

DOCTOR_COUNT = 40
# The last doctors registered for independent practice under three years ago, so the
# "cannot be scheduled for online consultations" rule has someone to show on.
RECENTLY_LICENSED_DOCTORS = 2
PHARMACIST_COUNT = 6
OPERATIONS_USERNAME = "ops"

# Titles follow time in practice (each promotion takes five years or more):
# (last year practice may have started in, titles to pick from).
DOCTOR_TITLES_BY_PRACTICE_START = (
    (2004, (DoctorTitle.CHIEF, DoctorTitle.ASSOCIATE_CHIEF)),
    (2011, (DoctorTitle.ASSOCIATE_CHIEF, DoctorTitle.ATTENDING)),
    (2017, (DoctorTitle.ATTENDING,)),
    (9999, (DoctorTitle.RESIDENT, DoctorTitle.ATTENDING)),
)
PHARMACIST_TITLES = (
    PharmacistTitle.CHIEF,
    PharmacistTitle.ASSOCIATE_CHIEF,
    PharmacistTitle.SUPERVISING,
    PharmacistTitle.SUPERVISING,
    PharmacistTitle.PHARMACIST,
    PharmacistTitle.PHARMACIST,
)


@dataclass(frozen=True)
class City:
    name: str
    districts: tuple[tuple[str, str], ...]  # (name, 6-digit region code)

    @property
    def short_name(self) -> str:
        return self.name.removesuffix("市")


# The 21 prefecture-level cities. Dongguan and Zhongshan have no districts: their towns and
# subdistricts all carry the city's own code.
CITIES = (
    City(
        "广州市",
        (
            ("荔湾区", "440103"),
            ("越秀区", "440104"),
            ("海珠区", "440105"),
            ("天河区", "440106"),
            ("白云区", "440111"),
            ("黄埔区", "440112"),
            ("番禺区", "440113"),
            ("花都区", "440114"),
            ("南沙区", "440115"),
            ("从化区", "440117"),
            ("增城区", "440118"),
        ),
    ),
    City(
        "韶关市",
        (
            ("武江区", "440203"),
            ("浈江区", "440204"),
            ("曲江区", "440205"),
            ("始兴县", "440222"),
            ("仁化县", "440224"),
            ("翁源县", "440229"),
            ("乳源瑶族自治县", "440232"),
            ("乐昌市", "440281"),
            ("南雄市", "440282"),
        ),
    ),
    City(
        "深圳市",
        (
            ("罗湖区", "440303"),
            ("福田区", "440304"),
            ("南山区", "440305"),
            ("宝安区", "440306"),
            ("龙岗区", "440307"),
            ("盐田区", "440308"),
            ("龙华区", "440309"),
            ("坪山区", "440310"),
            ("光明区", "440311"),
        ),
    ),
    City("珠海市", (("香洲区", "440402"), ("斗门区", "440403"), ("金湾区", "440404"))),
    City(
        "汕头市",
        (
            ("龙湖区", "440507"),
            ("金平区", "440511"),
            ("濠江区", "440512"),
            ("潮阳区", "440513"),
            ("潮南区", "440514"),
            ("澄海区", "440515"),
            ("南澳县", "440523"),
        ),
    ),
    City(
        "佛山市",
        (
            ("禅城区", "440604"),
            ("南海区", "440605"),
            ("顺德区", "440606"),
            ("三水区", "440607"),
            ("高明区", "440608"),
        ),
    ),
    City(
        "江门市",
        (
            ("蓬江区", "440703"),
            ("江海区", "440704"),
            ("新会区", "440705"),
            ("台山市", "440781"),
            ("开平市", "440783"),
            ("鹤山市", "440784"),
            ("恩平市", "440785"),
        ),
    ),
    City(
        "湛江市",
        (
            ("赤坎区", "440802"),
            ("霞山区", "440803"),
            ("坡头区", "440804"),
            ("麻章区", "440811"),
            ("遂溪县", "440823"),
            ("徐闻县", "440825"),
            ("廉江市", "440881"),
            ("雷州市", "440882"),
            ("吴川市", "440883"),
        ),
    ),
    City(
        "茂名市",
        (
            ("茂南区", "440902"),
            ("电白区", "440904"),
            ("高州市", "440981"),
            ("化州市", "440982"),
            ("信宜市", "440983"),
        ),
    ),
    City(
        "肇庆市",
        (
            ("端州区", "441202"),
            ("鼎湖区", "441203"),
            ("高要区", "441204"),
            ("广宁县", "441223"),
            ("怀集县", "441224"),
            ("封开县", "441225"),
            ("德庆县", "441226"),
            ("四会市", "441284"),
        ),
    ),
    City(
        "惠州市",
        (
            ("惠城区", "441302"),
            ("惠阳区", "441303"),
            ("博罗县", "441322"),
            ("惠东县", "441323"),
            ("龙门县", "441324"),
        ),
    ),
    City(
        "梅州市",
        (
            ("梅江区", "441402"),
            ("梅县区", "441403"),
            ("大埔县", "441422"),
            ("丰顺县", "441423"),
            ("五华县", "441424"),
            ("平远县", "441426"),
            ("蕉岭县", "441427"),
            ("兴宁市", "441481"),
        ),
    ),
    City(
        "汕尾市",
        (("城区", "441502"), ("海丰县", "441521"), ("陆河县", "441523"), ("陆丰市", "441581")),
    ),
    City(
        "河源市",
        (
            ("源城区", "441602"),
            ("紫金县", "441621"),
            ("龙川县", "441622"),
            ("连平县", "441623"),
            ("和平县", "441624"),
            ("东源县", "441625"),
        ),
    ),
    City(
        "阳江市",
        (("江城区", "441702"), ("阳东区", "441704"), ("阳西县", "441721"), ("阳春市", "441781")),
    ),
    City(
        "清远市",
        (
            ("清城区", "441802"),
            ("清新区", "441803"),
            ("佛冈县", "441821"),
            ("阳山县", "441823"),
            ("连山壮族瑶族自治县", "441825"),
            ("连南瑶族自治县", "441826"),
            ("英德市", "441881"),
            ("连州市", "441882"),
        ),
    ),
    City(
        "东莞市",
        (
            ("莞城街道", "441900"),
            ("南城街道", "441900"),
            ("东城街道", "441900"),
            ("虎门镇", "441900"),
            ("长安镇", "441900"),
            ("塘厦镇", "441900"),
        ),
    ),
    City(
        "中山市",
        (
            ("石岐街道", "442000"),
            ("东区街道", "442000"),
            ("火炬开发区街道", "442000"),
            ("小榄镇", "442000"),
            ("古镇镇", "442000"),
            ("坦洲镇", "442000"),
        ),
    ),
    City("潮州市", (("湘桥区", "445102"), ("潮安区", "445103"), ("饶平县", "445122"))),
    City(
        "揭阳市",
        (
            ("榕城区", "445202"),
            ("揭东区", "445203"),
            ("揭西县", "445222"),
            ("惠来县", "445224"),
            ("普宁市", "445281"),
        ),
    ),
    City(
        "云浮市",
        (
            ("云城区", "445302"),
            ("云安区", "445303"),
            ("新兴县", "445321"),
            ("郁南县", "445322"),
            ("罗定市", "445381"),
        ),
    ),
)

# Most of today's codes date from the 1983-1988 reorganisation. stdnum accepts a code only for
# birth years in which it existed, so people born earlier get the code of their county then.
FORMER_REGION_CODES = (
    ("市区", "440120"),  # Guangzhou's city districts before 1983
    ("花县", "440121"),
    ("从化县", "440122"),
    ("增城县", "440125"),
    ("番禺县", "440126"),
    ("曲江县", "440221"),
    ("汕头市", "442301"),
    ("潮安县", "442321"),
    ("潮阳县", "442325"),
    ("普宁县", "442328"),
    ("梅县", "442421"),
    ("兴宁县", "442425"),
    ("惠州市", "442501"),
    ("东莞县", "442527"),
    ("英德县", "442627"),
    ("清远县", "442628"),
    ("佛山市", "442701"),
    ("江门市", "442702"),
    ("南海县", "442722"),
    ("顺德县", "442723"),
    ("中山县", "442724"),
    ("台山县", "442727"),
    ("肇庆市", "442801"),
    ("高要县", "442821"),
    ("湛江市", "442901"),
    ("茂名市", "442902"),
    ("高州县", "442924"),
    ("遂溪县", "442929"),
)

# Weighted by how common each surname is in Guangdong (陈, 李, 黄 and 张 lead there).
SURNAME_WEIGHTS = {
    "陈": 90, "李": 70, "黄": 65, "张": 50, "梁": 45, "林": 45, "刘": 40, "吴": 35,
    "罗": 30, "杨": 30, "郑": 28, "何": 26, "周": 25, "王": 25, "谢": 24, "叶": 22,
    "钟": 22, "邓": 20, "曾": 20, "冯": 18, "蔡": 18, "朱": 16, "许": 16, "彭": 15,
    "卢": 15, "苏": 14, "潘": 14, "郭": 14, "赖": 13, "邱": 13, "温": 12, "徐": 12,
    "欧阳": 4, "司徒": 3,
}  # fmt: skip
MALE_GIVEN_CHARS = (
    "伟", "强", "军", "勇", "杰", "涛", "斌", "明", "超", "俊", "浩", "宇", "鹏", "辉", "志",
    "建", "国", "华", "文", "嘉", "家", "锦", "荣", "耀", "德", "永", "昌", "振", "健", "恒",
    "子", "轩", "梓", "睿", "晨", "博", "铭", "泽", "宏", "达", "坤", "海", "冠", "锐", "灿",
)  # fmt: skip
FEMALE_GIVEN_CHARS = (
    "芳", "娜", "敏", "静", "丽", "燕", "婷", "玲", "霞", "慧", "洁", "萍", "红", "雪", "琳",
    "欣", "怡", "颖", "佳", "诗", "晓", "嘉", "惠", "美", "秀", "凤", "雅", "梓", "涵", "妍",
    "彤", "淑", "莹", "琪", "悦", "桂", "英", "玉", "翠", "碧", "月", "婉", "思", "蕾", "珊",
)  # fmt: skip

# Prefixes of the three carriers' personal mobile ranges (all valid in libphonenumber).
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181",
    "182", "183", "184", "185", "186", "187", "188", "189", "198", "199",
)  # fmt: skip

ALLERGIES = ("青霉素", "头孢类抗生素", "磺胺类药物", "阿司匹林", "碘造影剂", "海鲜", "花粉")
CHRONIC_CONDITIONS = (
    "高血压",
    "2型糖尿病",
    "高脂血症",
    "冠心病",
    "慢性阻塞性肺疾病",
    "支气管哮喘",
    "慢性胃炎",
    "痛风",
    "骨质疏松症",
)
GUARDIAN_RELATIONSHIPS = ("父亲", "母亲", "祖母", "祖父")

# Facility names: plausible streets, localities, chains and companies to fill the patterns.
ROADS = (
    "人民路", "解放路", "中山路", "建设路", "新华路", "东风路", "环城路", "文明路", "朝阳路",
    "教育路", "工业大道", "滨江路", "迎宾大道", "府前路", "育才路", "健康路", "和平路",
    "沿江路", "南湖路", "江南大道",
)  # fmt: skip
PLACES = (
    "东湖", "西山", "南岗", "北岸", "新塘", "石龙", "沙头", "太平", "大沙", "白石", "青云",
    "金沙", "银湖", "凤凰", "莲花", "横沥", "长岭", "黄岗", "罗坑", "永安", "新华", "上塘",
    "下沙", "高埔", "桥头", "龙溪", "石岭", "大岗", "东坑", "竹园",
)  # fmt: skip
PHARMACY_CHAINS = (  # (shop sign, operating company)
    ("大参林", "大参林医药集团股份有限公司"),
    ("老百姓大药房", "老百姓大药房连锁（广东）有限公司"),
    ("国大药房", "国药控股国大药房广州连锁有限公司"),
    ("海王星辰", "深圳市海王星辰健康药房连锁有限公司"),
    ("采芝林药业", "广州采芝林药业连锁有限公司"),
    ("一心堂", "一心堂药业集团股份有限公司"),
    ("益丰大药房", "益丰大药房连锁股份有限公司"),
    ("健民药店", "广东健民医药连锁有限公司"),
)
INDUSTRIES = (
    "电子有限公司",
    "电器股份有限公司",
    "纺织有限公司",
    "食品有限公司",
    "汽车零部件有限公司",
    "物流有限公司",
    "陶瓷有限公司",
    "五金制品有限公司",
)


@dataclass(frozen=True)
class FacilityKind:
    """How a facility type looks: its share of the network, licensing, names and staff."""

    weight: int
    licensed_medical_institution: bool
    staff_position: str
    # (name, operator) format patterns over the fields builder.facility_fields() provides.
    patterns: tuple[tuple[str, str], ...]


FACILITY_KINDS = {
    FacilityType.PHARMACY: FacilityKind(
        55,
        False,
        "驻店药师",
        (
            ("{brand}（{county}{road}店）", "{brand_operator}"),
            ("{brand}{place}分店", "{brand_operator}"),
        ),
    ),
    FacilityType.COMMUNITY_CLINIC: FacilityKind(
        15,
        True,
        "社区护士",
        (("{county}{place}街道社区卫生服务站", "{county}{place}街道社区卫生服务中心"),),
    ),
    FacilityType.TOWNSHIP_HEALTH_CENTER: FacilityKind(
        12, True, "护士", (("{county}{place}镇卫生院", "{city}{county}卫生健康局"),)
    ),
    FacilityType.SCHOOL: FacilityKind(
        8,
        False,
        "校医",
        (
            ("{city}{place}中学医务室", "{city}{place}中学"),
            ("{county}{place}小学医务室", "{county}{place}小学"),
            ("{city_short}{place}职业技术学校医务室", "{city_short}{place}职业技术学校"),
        ),
    ),
    FacilityType.ENTERPRISE: FacilityKind(
        5,
        False,
        "厂医",
        (("{city_short}{place}{industry}医务室", "{city_short}{place}{industry}"),),
    ),
    FacilityType.MILITARY_UNIT: FacilityKind(
        3,
        True,
        "卫生员",
        (
            ("中国人民解放军{unit}部队卫生队", "中国人民解放军{unit}部队"),
            ("武警广东省总队{city_short}支队卫生队", "武警广东省总队{city_short}支队"),
        ),
    ),
    FacilityType.PRISON: FacilityKind(
        2,
        True,
        "狱医",
        (
            ("广东省{city_short}监狱医院", "广东省监狱管理局"),
            ("广东省{place}监狱卫生所", "广东省监狱管理局"),
        ),
    ),
}
