import Foundation
import LabModel
import LabStats

/// `report.html`: one self-contained file (inline CSS and SVG, no script,
/// no font, no link to anything outside it).
public enum HTMLReport {
    static func e(_ text: String) -> String { SVG.escape(text) }

    public static func headline(_ results: RunResults) -> String {
        let results = results.summarizedFromTrials()
        let accelerator = ClaimData(results).acceleratorLabel
        let container = results.metric(.container, "startup", "ready")?.summary.median
        let vm = results.metric(.vm, "startup", "ready")?.summary.median
        let bare = results.metric(.bare, "startup", "ready")?.summary.median
        var parts: [String] = []
        if let bare { parts.append("bare process ready in \(Format.duration(bare))") }
        if let container { parts.append("container in \(Format.duration(container))") }
        if let vm { parts.append("VM in \(Format.duration(vm)) under \(accelerator)") }
        var text = parts.joined(separator: ", ")
        if let ratio = results.ratio(.vm, over: .container, "startup", "ready") {
            text += ": the VM takes \(Format.ratio(ratio)) as long as the container"
        }
        return text.isEmpty ? "No trial reached READY." : text.prefix(1).uppercased() + text.dropFirst()
    }

    public static func render(_ results: RunResults) -> String {
        let results = results.summarizedFromTrials()
        let env = results.environment
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>isolab: \(e(results.scenarioName))</title>
            <style>
            body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#111;padding:0 1em}
            table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #d1d5db;padding:4px 8px;text-align:left;vertical-align:top}
            th{background:#f3f4f6}.holds{color:#15803d;font-weight:bold}.partly{color:#a16207;font-weight:bold}.doesnothold{color:#b91c1c;font-weight:bold}.inconclusive{color:#7c3aed;font-weight:bold}.notmeasured{color:#6b7280}
            .headline{font-size:20px;font-weight:bold;margin:1em 0}figure{margin:1.5em 0}.warn{color:#b45309}
            </style></head><body>
            <h1>isolab report: \(e(results.scenarioName))</h1>
            <p>\(e(results.scenarioDescription))</p>
            <p class="headline">\(e(headline(results)))</p>

            """
        if !results.complete { html += "<p class=\"warn\">This run was interrupted: the results cover the trials completed so far.</p>\n" }
        let failed = results.trials.filter { $0.error != nil }
        if !failed.isEmpty {
            html += "<p class=\"warn\">\(failed.count) trial(s) failed and are not counted: "
                + e(Dictionary(grouping: failed, by: \.backend).sorted { $0.key < $1.key }.map { "\($0.value.count) \($0.key.rawValue)" }.joined(separator: ", "))
                + "; their errors are in results.json.</p>\n"
        }

        html += "<h2>Claims of the notes, against the measurements</h2>\n<table id=\"claims\"><tr><th>Claim</th><th>Measured</th><th>Verdict</th><th>Evidence</th></tr>\n"
        for claim in Claims.evaluate(results) {
            html += "<tr id=\"claim-\(e(claim.id))\"><td>\(e(claim.statement))</td><td>\(e(claim.measured))</td><td class=\"\(claim.verdict.cssClass)\">\(e(claim.verdict.rawValue))</td><td>\(e(claim.evidence))</td></tr>\n"
        }
        html += "</table>\n<h2>Charts</h2>\n"
        for chart in [SVG.startup(results), SVG.phases(results), SVG.ratios(results), SVG.memory(results), SVG.footprint(results)] {
            html += "<figure>\n\(chart)</figure>\n"
        }

        html += "<h2>Summary</h2>\n<table><tr><th>backend</th><th>workload.metric</th><th>n</th><th>median</th><th>95 % CI of median</th><th>MAD</th><th>min</th><th>p95</th><th>max</th><th>outliers</th><th>vs bare</th></tr>\n"
        for metric in results.summary.metrics {
            let s = metric.summary
            let ci = metric.medianInterval.map { String(format: "%.4g–%.4g", $0.lower, $0.upper) } ?? ""
            let ratio = results.ratio(metric.backend, over: .bare, metric.workload, metric.metric).map { Format.ratio($0) } ?? ""
            html += String(format: "<tr><td>%@</td><td>%@.%@ (%@)</td><td>%d</td><td>%.4g</td><td>%@</td><td>%.3g</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td>%d</td><td>%@</td></tr>\n",
                           metric.backend.rawValue, e(metric.workload), e(metric.metric), e(metric.unit), s.n, s.median, ci, s.mad, s.min,
                           s.p95, s.max, metric.outlierTrials.count, e(ratio))
        }
        html += "</table>\n"

        html += "<h2>Environment</h2>\n<table>\n"
        var rows: [(String, String)] = [
            ("lab", "isolab \(env.labVersion), commit \(env.gitCommit)"),
            ("host", "\(env.host.cpuModel), \(env.host.cpuCount) CPUs, \(env.host.memoryTotalKiB / 1024) MiB, Linux \(env.host.kernelRelease)"),
            ("run", "\(env.startedAt) to \(env.finishedAt ?? "?"), \(results.repetitions) repetitions + \(results.warmup) warm-up, seed \(env.seed), backends interleaved in seeded shuffled rounds"),
            ("scenario", "\(env.scenarioFile) (\(env.scenarioDigest))"),
            ("image", "\(env.imageName) \(env.imageDigest)"),
        ]
        if let kernel = env.guestKernel { rows.append(("guest kernel", "\(kernel.version), \(kernel.sizeBytes / 1024) KiB")) }
        if let accelerator = env.accelerator { rows.append(("VM accelerator", "\(accelerator.accelerator.label): \(accelerator.reason)")) }
        if let budget = env.cpuBudget { rows.append(("CPU budget", "every backend pinned to host CPU(s) \(budget.map(String.init).joined(separator: ", "))")) }
        if let volume = env.volume { rows.append(("volume", volume)) }
        if let mode = env.hostFacts.cgroupMode { rows.append(("cgroups", mode + (env.hostFacts.cgroupFavorDynmods == true ? " (favordynmods)" : ""))) }
        for (key, value) in rows { html += "<tr><th>\(e(key))</th><td>\(e(value))</td></tr>\n" }
        html += "</table>\n<p>Figures: medians of the counted trials; intervals: 95 % percentile bootstrap (seeded); outliers: modified z-score above 3.5, reported and kept. Memory: resources.pss is one instrument for every backend, the PSS (/proc/PID/smaps_rollup) summed over the instance's host processes at READY (pss_peak: its peak; memavailable_drop: the host's MemAvailable drop from the start to READY); resources.cgroup_peak (a container's cgroup), rss_peak (summed VmHWM), guest_ram and agent_rss (the agent's own peak RSS) are other instruments, named as such. Disk: allocated blocks of the image an instance started from (disk_image) and of what was made for it alone (disk_instance). Every figure and verdict is computed from the trials' samples.</p>\n</body></html>\n"
        return html
    }
}
