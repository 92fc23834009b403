import Foundation
import LabAnalysis
import LabModel

/// The summary table printed at the end of a run.
public enum TextReport {
    public static func render(_ results: RunResults) -> String {
        let results = results.summarizedFromTrials()
        var lines = [HTMLReport.headline(results), ""]
        var table = [["backend", "metric", "n", "median", "MAD", "p95", "vs bare"]]
        for metric in results.summary.metrics {
            let ratio = results.ratio(metric.backend, over: .bare, metric.workload, metric.metric)
            table.append([
                metric.backend.rawValue, "\(metric.workload).\(metric.metric) (\(metric.unit))", String(metric.summary.n),
                String(format: "%.4g", metric.summary.median), String(format: "%.3g", metric.summary.mad),
                String(format: "%.4g", metric.summary.p95), ratio.map { String(format: "%.2f×", $0.ratio) } ?? "",
            ])
        }
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max() ?? 0 }
        for row in table {
            lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        lines.append("")
        // The lab held against the peers it is compared with.
        for peer in results.backends where peer.isPeer {
            if let counterpart = peer.labCounterpart, let ratio = results.ratio(counterpart, over: peer, .ready) {
                lines.append("\(counterpart.rawValue) / \(peer.rawValue), launch to READY: \(Format.ratio(ratio))")
            }
        }
        // {one process, whole OS} x {container, VM}.
        for (whole, one) in [(BackendKind.systemContainer, BackendKind.container), (.osVM, .vm), (.osVM, .systemContainer)] {
            if let ratio = results.ratio(whole, over: one, .ready) {
                lines.append("\(whole.rawValue) / \(one.rawValue), launch to READY: \(Format.ratio(ratio))")
            }
        }
        for run in results.density ?? [] {
            guard let last = run.steps.last else { continue }
            lines.append("density \(run.backend.rawValue): \(last.n) at once, \(Format.mib(last.pssPerInstanceMiB)) PSS and \(Format.mib(last.memAvailableDropPerInstanceMiB)) of MemAvailable each\(run.dropIsUnsettled(last) ? " (MemAvailable still moving)" : ""); stopped: \(run.stoppedBecause)")
            if let ksm = run.ksm {
                lines.append("density \(run.backend.rawValue) with KSM: PSS per instance \(Format.mib(ksm.pssPerInstanceOffMiB)) -> \(Format.mib(ksm.pssPerInstanceOnMiB)), pages_sharing \(ksm.pagesSharing)")
            }
        }
        for run in results.neighbours ?? [] {
            for metric in run.metrics {
                lines.append("neighbour \(run.backend.rawValue) \(metric.workload).\(metric.metric): unlimited \(Neighbours.ratio(metric.unlimited, metric.alone)), limited \(Neighbours.ratio(metric.limited, metric.alone))")
            }
        }
        for (peer, reason) in (results.environment.skippedPeers ?? [:]).sorted(by: { $0.key < $1.key }) {
            lines.append("skipped \(peer): \(reason)")
        }
        if results.backends.contains(where: { $0.isPeer || $0.isFullOS }) || results.environment.skippedPeers != nil || results.density != nil
            || results.neighbours != nil { lines.append("") }
        for claim in Claims.evaluate(results) {
            lines.append("[\(claim.verdictText)] \(claim.statement) \(claim.measured)")
        }
        let failed = results.trials.filter { $0.error != nil }.count
        if failed > 0 {
            let whole = HTMLReport.everyTrialFailed(results)
            lines.append("\(failed) trial(s) failed" + (whole.isEmpty ? "; " : ": " + whole.joined(separator: " ") + " ") + "every error is in results.json")
        }
        if !results.complete { lines.append("interrupted: results are incomplete") }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `isolab compare A B`: per-metric changes and whether they are beyond noise.
public enum Compare {
    public static func render(_ a: RunResults, _ b: RunResults) -> String {
        let (a, b) = (a.summarizedFromTrials(), b.summarizedFromTrials())
        var lines = ["A: \(a.scenarioName) \(a.environment.startedAt)   B: \(b.scenarioName) \(b.environment.startedAt)"]
        var table = [["backend", "metric", "median A", "median B", "change", "verdict"]]
        for metric in a.summary.metrics {
            guard let other = b.metric(metric.backend, metric.workload, metric.metric) else { continue }
            let change = (other.summary.median - metric.summary.median) / metric.summary.median * 100
            let comparison = Comparison(b.values(metric.backend, metric.workload, metric.metric), a.values(metric.backend, metric.workload, metric.metric))
            let verdict = comparison.direction != nil ? "beyond noise (B/A \(comparison.text))"
                : (comparison.ratio?.interval() == nil ? "undecided: " + (comparison.undecided ?? "") : "within noise (B/A \(comparison.text))")
            table.append([metric.backend.rawValue, "\(metric.workload).\(metric.metric) (\(metric.unit))",
                          String(format: "%.4g", metric.summary.median), String(format: "%.4g", other.summary.median),
                          String(format: "%+.1f %%", change), verdict])
        }
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max() ?? 0 }
        for row in table {
            lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
