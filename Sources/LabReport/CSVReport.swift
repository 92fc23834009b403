import CSV
import Foundation
import LabAnalysis
import LabModel

/// `samples.csv` and `summary.csv`, RFC 4180 (CRLF, quoted where needed),
/// written with CSV.swift rather than by hand: quoting is easy to get wrong.
public enum CSVReport {
    static func write(_ rows: [[String]]) throws -> String {
        let stream = OutputStream(toMemory: ())
        stream.open()
        let writer = try CSVWriter(stream: stream, newline: .crlf)
        for row in rows { try writer.write(row: row) }
        writer.stream.close()
        guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw LabError(.failed, "CSV writer produced nothing")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func number(_ value: Double) -> String {
        value.isFinite ? String(format: "%.6g", value) : ""
    }

    /// One row per trial and metric.
    public static func samples(_ results: RunResults) throws -> String {
        var rows = [["scenario", "backend", "workload", "repetition", "warmup", "metric", "value", "unit", "accelerator", "trial", "error"]]
        for trial in results.trials {
            let repetition = String(trial.round - results.warmup + 1)
            let accelerator = trial.accelerator?.rawValue ?? ""
            if trial.samples.isEmpty, let error = trial.error {
                rows.append([results.scenarioName, trial.backend.rawValue, "", repetition, String(trial.warmup), "", "", "", accelerator,
                             String(trial.index), error])
            }
            for sample in trial.samples {
                rows.append([results.scenarioName, trial.backend.rawValue, sample.workload, repetition, String(trial.warmup),
                             sample.metric, number(sample.value), sample.unit, accelerator, String(trial.index), trial.error ?? ""])
            }
        }
        return try write(rows)
    }

    /// One row per backend and metric, with the statistics and the ratio to bare.
    public static func summary(_ results: RunResults) throws -> String {
        let results = results.summarizedFromTrials()
        var rows = [["scenario", "backend", "workload", "metric", "unit", "n", "min", "median", "mean", "stddev", "p95", "max",
                     "mad", "outliers", "median_ci_low", "median_ci_high", "ratio_to_bare", "ratio_ci_low", "ratio_ci_high"]]
        for metric in results.summary.metrics {
            let s = metric.summary
            let ratio = results.ratio(metric.backend, over: .bare, metric.workload, metric.metric)
            rows.append([
                results.scenarioName, metric.backend.rawValue, metric.workload, metric.metric, metric.unit, String(s.n),
                number(s.min), number(s.median), number(s.mean), number(s.standardDeviation), number(s.p95), number(s.max),
                number(s.mad), String(metric.outlierTrials.count),
                metric.medianInterval.map { number($0.lower) } ?? "", metric.medianInterval.map { number($0.upper) } ?? "",
                ratio.map { number($0.ratio) } ?? "", ratio?.interval.map { number($0.lower) } ?? "",
                ratio?.interval.map { number($0.upper) } ?? "",
            ])
        }
        return try write(rows)
    }
}
