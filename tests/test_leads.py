"""The one lead order (`cardioradar.leads.LEADS`): every Python user imports it; the web page,
which cannot, must spell the same order (it labels the live message's ecg_mv columns)."""

import json
import re
from pathlib import Path

from cardioradar.leads import LEADS

ROOT = Path(__file__).resolve().parents[1]


def test_users_share_the_one_order():
    import edge.types
    import hardware_sim.subject.types
    import host.data.format

    assert edge.types.LEADS is LEADS and hardware_sim.subject.types.LEADS is LEADS
    assert host.data.format.LEADS_ORDER is LEADS and len(LEADS) == 12


def test_web_page_lead_order_is_the_one_order():
    js = (ROOT / "edge" / "web" / "static" / "app.js").read_text()
    m = re.search(r"var LEADS = (\[[^\]]*\]);", js)
    assert m, "app.js: no `var LEADS = [...]` line"
    assert tuple(json.loads(m.group(1))) == LEADS

