"""Publish the informed-consent text for internet follow-up care, version 2026.1.

A published text is never edited: records keep the SHA-256 of the exact text shown, so a change
is a new version (a new migration), and the old one is made inactive.
"""

from django.db import migrations

VERSION = "2026.1"

TITLE_ZH = "互联网诊疗知情同意书"

TEXT_ZH = """\
广东省第二人民医院互联网诊疗知情同意书（版本 2026.1）

尊敬的患者（或监护人）：

您即将通过设在基层机构的远程诊疗终端，接受广东省第二人民医院（以下简称“本院”）依托互联网医院提供的在线复诊服务。为保障您的健康权益，请在接受服务前仔细阅读本知情同意书；如有不明白之处，请向现场工作人员询问。

一、服务内容
互联网诊疗是指本院执业医师通过视频、音频等方式，结合您提供的病史资料、既往诊断证明以及终端采集的体征数据（如血压、体温、血氧饱和度、血糖等），为您提供复诊问诊和诊疗建议，并在必要时开具电子处方。电子处方经本院药师审核后方可生效；药品可在本机构领取，也可配送到家。

二、适用范围
（一）本服务仅适用于部分常见病、慢性病的复诊。您须已在实体医疗机构就同一疾病明确诊断，并提供相应的病历、诊断证明或检查报告等资料，由接诊医生核实。
（二）本服务不提供首诊。医生判断您属于首诊、病情发生变化、需要当面诊查或进一步检查，或存在其他不适宜在线诊疗情形的，将终止本次在线诊疗并建议您到实体医疗机构就诊；因上述原因终止的，已支付的诊查费将予以退还。
（三）麻醉药品、精神药品、医疗用毒性药品、放射性药品等特殊管理药品不在线开具处方。
（四）六周岁以下儿童须由监护人陪同就诊，并由监护人签署本同意书。

三、局限性与风险
（一）在线诊疗时医生无法进行触诊、听诊等面对面体格检查，诊疗意见主要依据您的陈述、您提供的资料以及终端采集的数据，具有一定的局限性。请如实、完整地告知病情、既往病史、过敏史和正在使用的药物，信息不真实或不完整可能影响医生的判断。
（二）受网络、设备等因素影响，视频或音频可能出现卡顿、中断或失真。出现此类情况时，医生可能暂停或终止本次诊疗，并与您另行约定时间或建议您到实体医疗机构就诊。
（三）如治疗后症状未见好转、加重，或出现新的不适，请及时到实体医疗机构就诊。

四、急危重症请勿使用本服务
互联网诊疗不适用于急危重症。如出现胸痛、胸闷、呼吸困难、意识障碍、抽搐、肢体无力或言语不清、大量出血、严重外伤、高热不退等情况，请立即拨打120急救电话或到就近医院急诊科就诊。

五、诊疗记录与音视频资料的保存
本次诊疗全过程将被记录，包括视频和音频。按照国家有关规定，互联网诊疗病历资料保存时间不少于15年，诊疗过程中的图文对话、音视频资料等过程记录保存时间不少于3年。上述资料仅用于医疗服务、医疗质量管理、依法接受监管和处理医疗纠纷，未经您同意不用于其他目的。

六、个人信息保护
本院依据《中华人民共和国个人信息保护法》《中华人民共和国数据安全法》《中华人民共和国基本医疗卫生与健康促进法》等法律法规处理您的个人信息。
（一）为提供本服务，本院需要处理您的身份信息、联系方式，以及病历、诊断、体征、处方、音视频等医疗健康信息，其中医疗健康信息属于敏感个人信息。处理目的限于身份核验、诊疗、处方审核、药品调配与配送、费用结算以及依法接受监管。
（二）为实现上述目的，本院将向您就诊的基层机构、药品配送单位和您选择的支付机构提供必要的信息，并要求其依法予以保护；除法律、行政法规另有规定外，不向其他第三方提供。
（三）您的个人信息存储于中华人民共和国境内。本院采取加密存储、访问控制、访问记录留痕等措施保护您的个人信息安全。
（四）您有权依法查阅、复制、更正、补充您的个人信息，有权要求本院对个人信息处理规则作出解释；病历资料在法律法规规定的保存期限届满前不予删除。
（五）签署本同意书，即表示您单独同意本院为上述目的处理您的敏感个人信息。

七、撤回同意
您可以随时撤回本同意，请告知本机构工作人员或联系本院办理。撤回同意不影响撤回前基于本同意已进行的诊疗活动和个人信息处理活动的效力。撤回后，本院将不再为您提供互联网诊疗服务，您可以到实体医疗机构就诊；已形成的病历资料将按规定继续保存。

八、费用
诊查费按照本院公布的收费标准收取，具体金额在预约时显示；药品费和配送费另行计算，并在支付前向您显示。符合条件的，可按照医疗保障部门的规定办理医保结算。

九、声明
本人（监护人）已阅读本知情同意书（或已听取工作人员的讲解），对上述内容已充分了解，自愿选择接受本院互联网复诊服务，并同意本院按照上述方式处理个人信息。"""

TITLE_EN = "Informed Consent to Internet Medical Care"

TEXT_EN = """\
Guangdong Second People's Hospital — Informed Consent to Internet Medical Care (version 2026.1)

Dear patient (or guardian),

You are about to receive an online follow-up consultation provided by Guangdong Second People's Hospital ("the Hospital") through its internet hospital, at a remote consultation terminal in a local facility. To protect your health and your rights, please read this consent form carefully before you use the service; if anything is unclear, please ask the staff on site.

1. What the service is
Internet medical care means that a licensed physician of the Hospital, by video and audio, gives you a follow-up consultation and medical advice based on the medical history you provide, your evidence of an earlier diagnosis and the measurements taken at the terminal (such as blood pressure, temperature, blood oxygen saturation and blood glucose), and where necessary issues an electronic prescription. An electronic prescription takes effect only after a pharmacist of the Hospital has reviewed it; the medicine can be collected at this facility or delivered to your home.

2. Who the service is for
(1) The service is only for follow-up visits of certain common and chronic diseases. You must already have been diagnosed with the same disease at a physical medical institution and must provide the corresponding medical records, diagnosis certificate or test reports, which the consulting physician will check.
(2) The service does not provide first visits. If the physician judges that this is a first visit, that your condition has changed, that you need to be examined in person or to have further tests, or that online care is otherwise unsuitable, the physician will end this online consultation and advise you to see a doctor at a physical medical institution; where the consultation is ended for these reasons, the consultation fee you have paid will be refunded.
(3) Narcotic drugs, psychotropic drugs, toxic drugs for medical use, radioactive drugs and other drugs under special control are not prescribed online.
(4) A child under six years of age must be accompanied by a guardian, and the guardian signs this consent form.

3. Limitations and risks
(1) In an online consultation the physician cannot examine you in person, for example by palpation or auscultation; the medical opinion rests mainly on what you describe, the documents you provide and the measurements taken at the terminal, and therefore has limitations. Please describe your condition, medical history, allergies and the medicines you are taking truthfully and completely; untrue or incomplete information may affect the physician's judgement.
(2) Because of the network, the equipment or other factors, video or audio may lag, break off or be distorted. When this happens, the physician may pause or end the consultation and arrange another time with you, or advise you to see a doctor at a physical medical institution.
(3) If your symptoms do not improve or get worse after treatment, or if you feel new discomfort, please see a doctor at a physical medical institution promptly.

4. Do not use this service in an emergency
Internet medical care is not suitable for emergencies or critical illness. If you have chest pain, chest tightness, difficulty breathing, impaired consciousness, convulsions, weakness of a limb or slurred speech, heavy bleeding, a serious injury, a persistent high fever or a similar condition, call the 120 emergency number at once or go to the emergency department of the nearest hospital.

5. Keeping the consultation record and the audio and video
The whole consultation is recorded, including video and audio. In accordance with national regulations, the medical records of internet medical care are kept for no less than 15 years, and the records of the consultation process, such as text and image messages and audio and video recordings, are kept for no less than 3 years. These materials are used only for medical care, quality management of medical services, supervision in accordance with the law and the handling of medical disputes, and are not used for any other purpose without your consent.

6. Protection of personal information
The Hospital processes your personal information in accordance with the Personal Information Protection Law of the People's Republic of China, the Data Security Law of the People's Republic of China, the Law of the People's Republic of China on Basic Medical and Health Care and the Promotion of Health, and other laws and regulations.
(1) To provide this service, the Hospital needs to process your identity information and contact details, and health information such as medical records, diagnoses, measurements, prescriptions and audio and video recordings; health information is sensitive personal information. It is processed only for identity verification, medical care, prescription review, dispensing and delivery of medicines, payment and settlement, and supervision in accordance with the law.
(2) For these purposes the Hospital provides the necessary information to the local facility where you are seen, to the medicine delivery service and to the payment institution you choose, and requires them to protect it in accordance with the law; except as otherwise provided by laws and administrative regulations, it is not provided to any other third party.
(3) Your personal information is stored within the People's Republic of China. The Hospital protects it with encrypted storage, access control, recording of every access and other measures.
(4) You have the right, in accordance with the law, to access, copy, correct and complete your personal information and to ask the Hospital to explain its rules for processing personal information; medical records are not deleted before the retention period set by laws and regulations has expired.
(5) By signing this consent form you give your separate consent to the Hospital processing your sensitive personal information for the purposes above.

7. Withdrawing your consent
You may withdraw this consent at any time by telling the staff of this facility or by contacting the Hospital. Withdrawal does not affect the validity of the medical care and the processing of personal information carried out on the basis of this consent before the withdrawal. After withdrawal the Hospital will no longer provide you with internet medical care, and you may see a doctor at a physical medical institution; medical records already made continue to be kept as required.

8. Fees
The consultation fee is charged according to the Hospital's published fee schedule, and the amount is shown when you book; the cost of medicines and the delivery fee are charged separately and shown to you before you pay. Where you are eligible, medical insurance settlement is handled according to the rules of the medical security authorities.

9. Declaration
I (the guardian) have read this informed consent form (or have had it explained by the staff), fully understand its contents, voluntarily choose to receive the Hospital's internet follow-up care, and agree to the Hospital processing personal information as described above."""


def publish(apps, schema_editor):
    ConsentTemplate = apps.get_model("patients", "ConsentTemplate")
    for language, title, text in (("zh-hans", TITLE_ZH, TEXT_ZH), ("en", TITLE_EN, TEXT_EN)):
        ConsentTemplate.objects.get_or_create(
            version=VERSION,
            language=language,
            defaults={"title": title, "text": text, "is_active": True},
        )


def unpublish(apps, schema_editor):
    ConsentTemplate = apps.get_model("patients", "ConsentTemplate")
    # Only while nothing was signed against it; records protect their template.
    ConsentTemplate.objects.filter(version=VERSION, records__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0002_consenttemplate_priordiagnosisevidence_consentrecord"),
    ]

    operations = [
        migrations.RunPython(publish, unpublish),
    ]
