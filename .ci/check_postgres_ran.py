"""Fail CI when the PostgreSQL variants of the tests were skipped or absent."""

import sys
import xml.etree.ElementTree as ET

cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
ran = skipped = 0
for case in cases:
    if "postgresql" not in case.get("name", ""):
        continue
    if case.find("skipped") is not None:
        skipped += 1
        reason = case.find("skipped").get("message", "")  # type: ignore[union-attr]
        print(f"skipped PostgreSQL test: {case.get('classname')}::{case.get('name')}: {reason}")
    else:
        ran += 1
print(f"PostgreSQL tests: {ran} ran, {skipped} skipped")
if skipped or not ran:
    sys.exit("CI needs every PostgreSQL test to run (is PMSYNC_TEST_DATABASE_URL right?)")
