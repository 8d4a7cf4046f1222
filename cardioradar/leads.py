"""The 12-lead order every lead axis in CardioRadar uses (arrays, model metadata, datasets,
the simulator's truth): the standard clinical order, limb leads then chest leads."""

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
N_LEADS = len(LEADS)
