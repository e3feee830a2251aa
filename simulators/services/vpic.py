"""The fake NHTSA: vPIC decoding (DecodeVinValues, DecodeVINValuesBatch, DecodeWMI) and recalls.

Response shapes follow the public APIs: a flat `Results` row with every vPIC variable
(empty string when unknown), `ErrorCode` as a comma-separated string, `SuggestedVIN`,
`Count` = number of variables; recalls answer `{Count, Message, results}` (lowercase).
The VIN logic here is the simulator's own (the import rule forbids sharing Baygate's).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from simulators.services.server import Reply, Request, json_reply

__all__ = ["VPIC_KEYS", "NhtsaApp", "decode_row"]

DATA = Path(__file__).with_name("data")

# Every variable a DecodeVinValues row carries (alphabetical, as vPIC returns them).
VPIC_KEYS = """ABS ActiveSafetySysNote AdaptiveCruiseControl AdaptiveDrivingBeam AdaptiveHeadlights
AdditionalErrorText AirBagLocCurtain AirBagLocFront AirBagLocKnee AirBagLocSeatCushion AirBagLocSide
AutoReverseSystem AutomaticPedestrianAlertingSound AxleConfiguration Axles BasePrice BatteryA BatteryA_to
BatteryCells BatteryInfo BatteryKWh BatteryKWh_to BatteryModules BatteryPacks BatteryType BatteryV
BatteryV_to BedLengthIN BedType BlindSpotIntervention BlindSpotMon BodyCabType BodyClass BrakeSystemDesc
BrakeSystemType BusFloorConfigType BusLength BusType CAN_AACN CIB CashForClunkers ChargerLevel
ChargerPowerKW CombinedBrakingSystem CoolingType CurbWeightLB CustomMotorcycleType DaytimeRunningLight
DestinationMarket DisplacementCC DisplacementCI DisplacementL Doors DriveType DriverAssist
DynamicBrakeSupport EDR ESC EVDriveUnit ElectrificationLevel EngineConfiguration EngineCycles
EngineCylinders EngineHP EngineHP_to EngineKW EngineManufacturer EngineModel EntertainmentSystem ErrorCode
ErrorText ForwardCollisionWarning FuelInjectionType FuelTankMaterial FuelTankType FuelTypePrimary
FuelTypeSecondary GCWR GCWR_to GVWR GVWR_to KeylessIgnition LaneCenteringAssistance LaneDepartureWarning
LaneKeepSystem LowerBeamHeadlampLightSource Make MakeID Manufacturer ManufacturerId Model ModelID ModelYear
MotorcycleChassisType MotorcycleSuspensionType NCSABodyType NCSAMake NCSAMapExcApprBy NCSAMappingException
NCSAModel NCSANote NonLandUse Note OtherBusInfo OtherEngineInfo OtherMotorcycleInfo
OtherRestraintSystemInfo OtherTrailerInfo ParkAssist PedestrianAutomaticEmergencyBraking PlantCity
PlantCompanyName PlantCountry PlantState PossibleValues Pretensioner RearAutomaticEmergencyBraking
RearCrossTrafficAlert RearVisibilitySystem SAEAutomationLevel SAEAutomationLevel_to SeatBeltsAll SeatRows
Seats SemiautomaticHeadlampBeamSwitching Series Series2 SteeringLocation SuggestedVIN TPMS TopSpeedMPH
TrackWidth TractionControl TrailerBodyType TrailerLength TrailerType TransmissionSpeeds TransmissionStyle
Trim Trim2 Turbo VIN ValveTrainDesign VehicleDescriptor VehicleType WheelBaseLong WheelBaseShort
WheelBaseType WheelSizeFront WheelSizeRear WheelieMitigation Wheels Windows""".split()  # noqa: SIM905

OK_MESSAGE = "Results returned successfully"
ERROR_TEXT = {
    "0": "0 - VIN decoded clean. Check Digit (9th position) is correct",
    "1": "1 - Check Digit (9th position) does not calculate properly",
    "6": "6 - Incomplete VIN",
    "7": "7 - Manufacturer is not registered with NHTSA for sale or importation in the U.S.",
    "8": "8 - No detailed data available currently",
    "11": "11 - Incorrect Model Year, decoded data may not be accurate!",
    "14": "14 - Unable to provide information for all the characters in the VIN",
    "400": "400 - Invalid Characters Present",
}

_VAL = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ",
        [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9], strict=True))}  # fmt: skip
_W = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_YEARS = "ABCDEFGHJKLMNPRSTVWXY123456789"


@cache
def _vehicles() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "vehicles.json").read_text())
    return data


@cache
def _recalls() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((DATA / "recalls.json").read_text())["recalls"]
    return data


def _check(vin: str) -> str | None:
    if len(vin) != 17 or any(c not in _VAL for c in vin):
        return None
    r = sum(_VAL[c] * w for c, w in zip(vin, _W, strict=True)) % 11
    return "X" if r == 10 else str(r)


def _year(vin: str, hint: str) -> tuple[int | None, bool]:
    """(model year, hint contradicted)."""
    if len(vin) < 10 or vin[9] not in _YEARS:
        return (int(hint) if hint.isdigit() else None), False
    base = 1980 + _YEARS.index(vin[9])
    if hint.isdigit():
        if int(hint) in (base, base + 30):
            return int(hint), False
        return (base + 30 if vin[6].isalpha() else base), True
    return (base + 30 if len(vin) > 6 and vin[6].isalpha() else base), False


def decode_row(raw_vin: str, year_hint: str = "") -> dict[str, str]:
    vin = raw_vin.strip().upper()
    row = dict.fromkeys(VPIC_KEYS, "")
    row["VIN"] = vin
    codes: list[str] = []
    if any(c not in _VAL and c != "*" for c in vin):
        codes.append("400")
    if len(vin) < 17 or "*" in vin:
        codes.append("6")
    year, wrong_year = _year(vin, year_hint)
    if wrong_year:
        codes.append("11")
    db = _vehicles()
    spec = next(
        (v for v in db["vehicles"] if vin.startswith(v["prefix"]) and (year is None or year in v["years"])),
        None,
    )
    if spec is not None:
        for k, v in spec.items():
            if k in row:
                row[k] = str(v)
        dl = spec.get("DisplacementL") or ""
        if dl:
            row["DisplacementCC"] = f"{float(dl) * 1000:.1f}"
            row["DisplacementCI"] = f"{float(dl) * 61.0237:.10f}"
    else:
        make = db["wmi_makes"].get(vin[:3])
        if make:
            row["Make"] = make
            codes.append("8")
        elif "6" not in codes and "400" not in codes:
            codes.append("7")
    if year is not None:
        row["ModelYear"] = str(year)
    expected = _check(vin)
    if expected is not None and vin[8] != expected:
        codes.insert(0, "1")
        row["SuggestedVIN"] = vin[:8] + expected + vin[9:]
    if not codes:
        codes = ["0"]
    row["ErrorCode"] = ",".join(codes)
    row["ErrorText"] = "; ".join(ERROR_TEXT[c] for c in codes)
    row["VehicleDescriptor"] = (vin[:8] + "*" + vin[9:11]) if len(vin) >= 11 else ""
    return row


def _decode_envelope(rows: list[dict[str, str]], criteria: str) -> dict[str, Any]:
    return {
        "Count": len(VPIC_KEYS) if len(rows) == 1 else len(rows),
        "Message": "Results returned successfully. NOTE: Any missing decoded values should be "
        "interpreted as NHTSA does not have data on the specific variable.",
        "SearchCriteria": criteria,
        "Results": rows,
    }


class NhtsaApp:
    """Routes one request. Paths are those of vpic.nhtsa.dot.gov and api.nhtsa.gov."""

    def __call__(self, req: Request) -> Reply:
        p = req.path
        if p.startswith("/api/vehicles/DecodeVinValues/"):
            vin = p.rsplit("/", 1)[-1]
            row = decode_row(vin, req.arg("modelyear"))
            return json_reply(_decode_envelope([row], f"VIN(s): {vin}"))
        if p.rstrip("/") == "/api/vehicles/DecodeVINValuesBatch" and req.method == "POST":
            return self._batch(req)
        if p.startswith("/api/vehicles/DecodeWMI/"):
            wmi = p.rsplit("/", 1)[-1].upper()
            make = _vehicles()["wmi_makes"].get(wmi)
            results = [{"Make": make, "ManufacturerName": make, "VehicleType": ""}] if make else []
            return json_reply({"Count": len(results), "Message": "", "Results": results})
        if p.rstrip("/") == "/recalls/recallsByVehicle":
            return self._recalls(req)
        if p.rstrip("/") == "/recalls/campaignNumber":
            num = req.arg("campaignNumber").upper()
            hits = [r for r in _recalls() if r["NHTSACampaignNumber"] == num]
            return json_reply({"Count": len(hits), "Message": OK_MESSAGE, "results": hits})
        return Reply(404, b"<html><body>Not Found</body></html>", content_type="text/html")

    def _batch(self, req: Request) -> Reply:
        form = req.form()
        data = (form.get("data") or [""])[0]
        items = [i for i in data.split(";") if i.strip()]
        if len(items) > 50:
            return json_reply({"Message": "Too many VINs: at most 50 per request"}, 400)
        rows = []
        for item in items:
            vin, _, year = item.partition(",")
            rows.append(decode_row(vin, year.strip()))
        return json_reply(_decode_envelope(rows, f"VIN(s): {data}"))

    def _recalls(self, req: Request) -> Reply:
        make = req.arg("make").strip().upper()
        model = req.arg("model").strip().upper()
        year = req.arg("modelYear").strip()
        if not (make and model and year):
            msg = "make, model and modelYear are required"
            return json_reply({"Count": 0, "Message": msg, "results": []}, 400)
        hits = [
            r
            for r in _recalls()
            if r["Make"].upper() == make and r["Model"].upper() == model and r["ModelYear"] == year
        ]
        return json_reply({"Count": len(hits), "Message": OK_MESSAGE, "results": hits})
