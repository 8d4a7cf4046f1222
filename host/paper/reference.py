"""The seed papers' published figures that `bench paper` sets beside ours (copied from the papers' tables).

radarODE-MTL (``shared/seeds/000_dd2ccc0faf3edc1e.txt``):
- Table I (MMECG, 200 epochs): per optimiser RMSE (mV), PCC, PPI error (ms), timing error
  (ms), MDR and dm% against the single-task baseline (3 tasks: ECG shape, cycle length, anchors).
- Table III (constant Gaussian noise "added into the raw radar signal", 10 trials, no
  retraining) and Table IV (abrupt noise of 1-3 s on 20 % of the segments, 0 dB mild /
  -9 dB extensive body movement): RMSE, PCC, peak error, MDR and dm% against the same
  framework on clean input (2 tasks: ECG shape and peaks; no PPI column).
CardioRadar (``shared/seeds/002_afe1ad93060d08e7.txt``): 6974 people, window PCC mean 0.75 /
median 0.77 (2.56 s windows), RMSE mean 0.09 / median 0.07 mV, IBI error mean 23.39 / median
5.60 ms; per-lead figures only as a plot (Fig. 3c: lower for III, aVL, aVF), the overnight
case's lead II 0.81 / 0.84 and V4 0.85 / 0.89 (mean / median PCC); AF vs sinus with a
classifier on the reconstructed ECG: ROC AUC 0.997, sensitivity 0.867, specificity 0.993.
"""

from __future__ import annotations

# Table I: method -> (rmse_mv, pcc, ppi_ms, timing_ms, mdr, dm% vs single-task)
TABLE_I = {
    "Single-task baseline": (0.106, 0.866, 9.6, 7.5, 0.0667, 0.0),
    "Equal Weight": (0.125, 0.797, 8.0, 9.7, 0.0551, -0.73),
    "UW (uncertainty)": (0.066, 0.885, 11.2, 5.5, 0.0644, 5.95),
    "Aligned-MTL": (0.092, 0.879, 10.0, 6.9, 0.0352, 10.26),
    "EGA (T = 1.0)": (0.085, 0.874, 8.5, 7.2, 0.0431, 13.95),
}
# our --mtl name -> the row of Table I it corresponds to
TABLE_I_ROW = {"equal": "Equal Weight", "uncertainty": "UW (uncertainty)", "aligned": "Aligned-MTL",
               "ega": "EGA (T = 1.0)"}

# Table III, radarODE-MTL: SNR dB (None = clean baseline) -> (rmse_mv, pcc, peak_ms, mdr, dm%)
TABLE_III = {
    None: (0.089, 0.8503, 8.22, 0.0408, 0.0),
    6.0: (0.088, 0.8531, 8.18, 0.0420, -0.31),
    3.0: (0.089, 0.8429, 8.31, 0.0427, -1.87),
    0.0: (0.091, 0.8377, 8.03, 0.0476, -4.58),
    -1.0: (0.093, 0.8401, 8.10, 0.0510, -7.33),
    -2.0: (0.093, 0.8451, 8.02, 0.0545, -9.18),
    -3.0: (0.094, 0.8496, 8.19, 0.0602, -13.30),
}
# dm% of the two other frameworks of Table III (MMECG; radarODE failed at -3 dB: None)
TABLE_III_OTHERS = {
    "MMECG": {6.0: -0.44, 3.0: -3.20, 0.0: -10.14, -1.0: -15.02, -2.0: -25.42, -3.0: -52.82},
    "radarODE": {6.0: -2.83, 3.0: -5.23, 0.0: -16.86, -1.0: -24.17, -2.0: -48.74, -3.0: None},
}
# Table IV, radarODE-MTL: (burst_db, burst_s) -> (rmse_mv, pcc, peak_ms, mdr, dm%)
TABLE_IV = {
    (0.0, 1.0): (0.090, 0.8462, 7.87, 0.0442, -1.52),
    (0.0, 2.0): (0.090, 0.8478, 8.29, 0.0444, -2.56),
    (0.0, 3.0): (0.091, 0.8444, 8.34, 0.0512, -7.39),
    (-9.0, 1.0): (0.090, 0.8431, 8.28, 0.0408, -0.82),
    (-9.0, 2.0): (0.091, 0.8421, 8.32, 0.0441, -3.15),
    (-9.0, 3.0): (0.095, 0.8417, 8.43, 0.0510, -8.74),
}

CARDIORADAR = {
    "pcc_window_mean": 0.75, "pcc_window_median": 0.77,
    "rmse_mv_mean": 0.09, "rmse_mv_median": 0.07,
    "ibi_err_ms_mean": 23.39, "ibi_err_ms_median": 5.60,
    "af_auc": 0.997, "af_sensitivity": 0.867, "af_specificity": 0.993,
}
# the overnight case (one healthy man, Holter reference): lead -> (mean, median) PCC
CARDIORADAR_OVERNIGHT_PCC = {"II": (0.81, 0.84), "V4": (0.85, 0.89)}
