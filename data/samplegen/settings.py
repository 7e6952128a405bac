"""What the sample log covers: period, columns, categories, volumes, the retraining labels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1]
GAZETTEER_PATH = DATA_DIR / "gazetteer.json"
DEFAULT_SEED = 12345

START = dt.date(2026, 5, 1)
END = dt.date(2026, 8, 31)
# The log is exported at this moment: cases not replied to by then are still 办理中.
EXPORT_TIME = dt.datetime(2026, 9, 1, 0, 0)

COLUMNS = (
    "id", "time", "caller", "title", "text", "district", "street",
    "label", "urgency", "reply_time", "status", "likes",
)  # fmt: skip
GBK_HEADERS = (
    "工单编号", "来电时间", "来电人", "留言主题", "诉求内容", "所属区县", "所属街道",
    "一级分类", "紧急程度", "办结时间", "办理状态", "点赞数",
)  # fmt: skip
GBK_ROWS = 150

URGENT, PRESSING, NORMAL = "紧急", "较急", "一般"
DONE, OPEN = "已办结", "办理中"

# Categories of the sample log (README lists what each covers).
LABELS = (
    "市容环卫", "物业管理", "道路交通", "噪音扰民", "供水供电燃气",
    "占道经营", "违章建筑", "环境污染", "园林绿化",
)  # fmt: skip
# Rows per category drawn from the ordinary background; the surge, the incident clusters and
# the urgent cases come on top (see _special_rows). Uneven on purpose, every class >= 25.
BACKGROUND_QUOTA = {
    "市容环卫": 70, "物业管理": 62, "道路交通": 55, "噪音扰民": 48, "供水供电燃气": 45,
    "占道经营": 42, "违章建筑": 38, "环境污染": 36, "园林绿化": 34,
}  # fmt: skip
# Relative call volume per district (the county is rural and calls less).
DISTRICT_WEIGHTS = {"江北区": 1.2, "城南区": 1.4, "云湖区": 1.1, "临港区": 0.8, "青山区": 0.9, "澜溪县": 0.5}

# The retraining example: a renamed category and a category the original log lacks.
RENAMED_LABEL = ("园林绿化", "绿化养护")
NEW_LABEL = "新能源充电"
