import LabModel

/// The summary of a run, computed from its trials alone: every figure a
/// report shows comes from here, so a summary can always be recomputed.
extension RunResults {
    /// Recomputes the summary from the trials: exact intervals, so the same
    /// trials give the same intervals on every machine.
    public static func summarize(_ trials: [TrialRecord], backends: [BackendKind]) -> ResultsSummary {
        var keys: [(String, String, String)] = []
        var seen = Set<String>()
        for trial in trials where trial.isCounted {
            for sample in trial.samples where seen.insert(sample.workload + "\u{1}" + sample.metric).inserted {
                keys.append((sample.workload, sample.metric, sample.unit))
            }
        }
        var metrics: [MetricSummary] = []
        var ratios: [RatioSummary] = []
        var values: [BackendKind: [String: [(Int, Double)]]] = [:]
        for trial in trials where trial.isCounted {
            for sample in trial.samples {
                values[trial.backend, default: [:]][sample.workload + "\u{1}" + sample.metric, default: []].append((trial.index, sample.value))
            }
        }
        for (workload, metric, unit) in keys {
            let key = workload + "\u{1}" + metric
            for backend in backends {
                guard let pairs = values[backend]?[key], let summary = Summary(pairs.map(\.1)) else { continue }
                let outliers = Statistics.outliers(pairs.map(\.1)).map { pairs[$0].0 }
                metrics.append(MetricSummary(backend: backend, workload: workload, metric: metric, unit: unit, summary: summary,
                                             outlierTrials: outliers, medianInterval: Exact.median(pairs.map(\.1))))
            }
            var pairsToCompare: [(BackendKind, BackendKind)] = backends.filter { $0 != .bare }.map { ($0, .bare) }
            if backends.contains(.vm) && backends.contains(.container) { pairsToCompare.append((.vm, .container)) }
            // {one process, whole OS} x {container, VM}: each whole OS against its one process, and its VM against its container.
            for (whole, one) in [(BackendKind.systemContainer, BackendKind.container), (.osVM, .vm), (.osVM, .systemContainer)]
            where backends.contains(whole) && backends.contains(one) {
                pairsToCompare.append((whole, one))
            }
            // The lab's own against each peer it is held against (container / runc, vm / qemu).
            for peer in backends where peer.isPeer {
                if let counterpart = peer.labCounterpart, backends.contains(counterpart) { pairsToCompare.append((counterpart, peer)) }
            }
            for (backend, baseline) in pairsToCompare {
                guard backends.contains(baseline), let top = values[backend]?[key]?.map(\.1), let bottom = values[baseline]?[key]?.map(\.1),
                      !top.isEmpty, !bottom.isEmpty, Statistics.median(bottom) != 0 else { continue }
                // The Hodges–Lehmann ratio with its exact interval; the ratio of
                // medians, without an interval, where a value is zero.
                let exact = Exact.ratio(top, bottom)
                ratios.append(RatioSummary(workload: workload, metric: metric, unit: unit, backend: backend, baseline: baseline,
                                           ratio: exact?.ratio ?? Statistics.median(top) / Statistics.median(bottom),
                                           interval: exact?.interval()))
            }
        }
        return ResultsSummary(metrics: metrics, ratios: ratios)
    }
}
