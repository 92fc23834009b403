import Foundation
import LabAnalysis
import LabModel
import LabStats

/// `report.html`: one self-contained file (inline CSS and SVG, no script,
/// no font, no link to anything outside it).
public enum HTMLReport {
    static func e(_ text: String) -> String { SVG.escape(text) }

    public static func headline(_ results: RunResults) -> String {
        let results = results.summarizedFromTrials()
        let accelerator = results.acceleratorLabel()
        let container = results.metric(.container, .ready)?.summary.median
        let vm = results.metric(.vm, .ready)?.summary.median
        let bare = results.metric(.bare, .ready)?.summary.median
        var parts: [String] = []
        if let bare { parts.append("bare process ready in \(Format.duration(bare))") }
        if let container { parts.append("container in \(Format.duration(container))") }
        if let vm { parts.append("VM in \(Format.duration(vm)) under \(accelerator)") }
        var text = parts.joined(separator: ", ")
        if let ratio = results.ratio(.vm, over: .container, .ready) {
            text += ": the VM takes \(Format.ratio(ratio)) as long as the container"
        }
        text = text.isEmpty ? "No trial reached READY." : text.prefix(1).uppercased() + text.dropFirst()
        // A backend that failed every trial is said first: its rows then read "not measured".
        let failures = everyTrialFailed(results)
        return failures.isEmpty ? text : failures.joined(separator: " ") + " " + text
    }

    /// One sentence per backend whose every trial failed, with the first error.
    public static func everyTrialFailed(_ results: RunResults) -> [String] {
        Dictionary(grouping: results.trials, by: \.backend).sorted { $0.key < $1.key }.compactMap { backend, trials in
            guard !trials.isEmpty, trials.allSatisfy({ $0.error != nil }), let first = trials.first?.error else { return nil }
            let error = first.count > 300 ? first.prefix(300) + "…" : first[...]
            return "Every \(backend.rawValue) trial failed (\(trials.count) of \(trials.count)): \(error)."
        }
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
            th{background:#f3f4f6}.holds{color:#15803d;font-weight:bold}.partly{color:#a16207;font-weight:bold}.doesnothold{color:#b91c1c;font-weight:bold}.inconclusive{color:#7c3aed;font-weight:bold}.emulation{color:#0e7490;font-weight:bold}.construction{color:#475569;font-weight:bold}.notmeasured{color:#6b7280}
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
            html += "<tr id=\"claim-\(e(claim.id))\"><td>\(e(claim.statement))</td><td>\(e(claim.measured))</td><td class=\"\(claim.verdict.cssClass)\">\(e(claim.verdictText))</td><td>\(e(claim.evidence))</td></tr>\n"
        }
        html += "</table>\n<h2>Charts</h2>\n"
        for chart in [SVG.startup(results), SVG.phases(results), SVG.ratios(results), SVG.memory(results), SVG.footprint(results)] {
            html += "<figure>\n\(chart)</figure>\n"
        }

        html += fullOS(results)
        html += density(results)
        html += neighbours(results)
        html += peers(results)
        html += "<h2>Summary</h2>\n<table><tr><th>backend</th><th>workload.metric</th><th>n</th><th>median</th><th>CI of median (exact, ≥ 95 %)</th><th>MAD</th><th>min</th><th>p95</th><th>max</th><th>outliers</th><th>vs bare</th></tr>\n"
        for metric in results.summary.metrics {
            let s = metric.summary
            let ci = metric.medianInterval.map { String(format: "%.4g–%.4g (%@)", $0.lower, $0.upper, Format.level($0.level)) } ?? "n < 6"
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
        for (peer, reason) in (env.skippedPeers ?? [:]).sorted(by: { $0.key < $1.key }) { rows.append(("skipped: \(peer)", reason)) }
        for (key, value) in rows { html += "<tr><th>\(e(key))</th><td>\(e(value))</td></tr>\n" }
        html += "</table>\n<p>Figures: medians of the counted trials; intervals: exact and distribution-free, at 95 % or more with the level each reaches (a median's from its order statistics, from 6 trials; a ratio's the Hodges–Lehmann ratio with its Moses interval, from 4 trials a side; docs/claims.md); outliers: modified z-score above 3.5, reported and kept. Memory: resources.pss is one instrument for every backend, the PSS (/proc/PID/smaps_rollup) summed over the instance's host processes at READY (pss_peak: its peak; memavailable_drop: the host's MemAvailable drop from the start to READY); resources.cgroup_peak (a container's cgroup), rss_peak (summed VmHWM), guest_ram and agent_rss (the agent's own peak RSS) are other instruments, named as such. Disk: allocated blocks of the image an instance started from (disk_image) and of what was made for it alone (disk_instance). Every figure and verdict is computed from the trials' samples.</p>\n</body></html>\n"
        return html
    }

    /// The lab's backends beside the peers: launch to READY, memory, CPU and
    /// teardown by the same instruments, and the lab / peer ratios.
    static func peers(_ results: RunResults) -> String {
        let peers = results.backends.filter(\.isPeer)
        let skipped = results.environment.skippedPeers ?? [:]
        guard !peers.isEmpty || !skipped.isEmpty else { return "" }
        var html = "<h2 id=\"peers\">The lab beside the tools people use</h2>\n"
        html += "<p>Every peer runs the same image's rootfs and agent and is finished by the same READY line; memory is the same instrument (PSS summed over the instance's host processes, the peer's helpers included); CPU time is the launcher's rusage, its waited-for descendants included (docs/peers.md).</p>\n"
        html += "<table id=\"peer-table\"><tr><th>backend</th><th>launch → READY (median, exact CI)</th><th>PSS at READY</th><th>CPU time</th><th>teardown</th><th>the lab's / this</th></tr>\n"
        func cell(_ backend: BackendKind, _ key: MetricKey, _ unit: String) -> String {
            guard let m = results.metric(backend, key) else { return "-" }
            func show(_ value: Double) -> String { unit == "ms" ? Format.duration(value) : Format.mib(value) }
            let ci = m.medianInterval.map { " [\(show($0.lower))–\(show($0.upper))]" } ?? ""
            return show(m.summary.median) + ci
        }
        for backend in results.backends {
            var ratio = ""
            if let counterpart = backend.labCounterpart, let r = results.ratio(counterpart, over: backend, .ready) {
                ratio = "\(counterpart.rawValue) / \(backend.rawValue): " + Format.ratio(r)
            }
            html += "<tr><td>\(e(backend.rawValue))</td><td>\(e(cell(backend, .ready, "ms")))</td><td>\(e(cell(backend, .pss, "MiB")))</td>"
                + "<td>\(e(cell(backend, .cpuTime, "ms")))</td><td>\(e(cell(backend, .teardown, "ms")))</td><td>\(e(ratio))</td></tr>\n"
        }
        for (peer, reason) in skipped.sorted(by: { $0.key < $1.key }) {
            html += "<tr><td>\(e(peer))</td><td colspan=\"5\">skipped: \(e(reason))</td></tr>\n"
        }
        html += "</table>\n"
        // Two charts, one scale each: a VM's seconds would flatten the
        // containers' milliseconds into one pixel.
        let vmLike: Set<BackendKind> = [.vm, .qemu]
        for (title, group, unit, scale) in [("Launch to READY, bare process and containers (ms, median)", results.backends.filter { !vmLike.contains($0) }, "ms", 1.0),
                                            ("Launch to READY, VMs (s, median)", results.backends.filter { vmLike.contains($0) }, "s", 1000.0)] where !group.isEmpty {
            html += "<figure>\n" + SVG.bars(title: title, group.compactMap { backend in
                results.summary.metrics.first { $0.backend == backend && $0.workload == "startup" && $0.metric == "ready" }
                    .map { (backend.rawValue, $0.summary.median / scale, SVG.colors[backend] ?? "#6b7280") }
            }, unit: unit) + "</figure>\n"
        }
        return html
    }
}

extension HTMLReport {
    /// {one process, whole OS} x {container, VM}: launch to READY with its
    /// interval in each cell, the ratios along each row and column, where
    /// each cell's time goes, and the slowest units of each whole OS.
    static func fullOS(_ results: RunResults) -> String {
        guard results.backends.contains(where: \.isFullOS) else { return "" }
        func cell(_ backend: BackendKind) -> String {
            guard results.backends.contains(backend), let m = results.metric(backend, .ready) else { return "not in this run" }
            let ci = m.medianInterval.map { " [\(Format.level($0.level)) CI \(Format.duration($0.lower))–\(Format.duration($0.upper))]" } ?? ""
            return Format.duration(m.summary.median) + ci + " (n = \(m.summary.n))"
        }
        func ratio(_ a: BackendKind, _ b: BackendKind) -> String {
            results.ratio(a, over: b, .ready).map { Format.ratio($0) } ?? "-"
        }
        let accelerators = Set(results.trials.filter { $0.backend.isVM }.compactMap(\.accelerator)).map(\.label).sorted().joined(separator: " and ")
        var html = "<h2 id=\"full-os\">One process or a whole operating system, in a container or a VM</h2>\n"
        html += "<p>Launch to READY, median with its exact interval (from 6 trials). One process: the agent is PID 1. Whole OS: the image's systemd is PID 1 "
            + "(in the lab's own container, on an overlay of the image; in the VM, from the image's kernel, initrd and disk) and READY is the agent's service, "
            + "started once <code>multi-user.target</code> is reached. VMs under \(e(accelerators.isEmpty ? "an unknown accelerator" : accelerators)).</p>\n"
        html += "<table id=\"full-os-table\"><tr><th></th><th>container</th><th>VM</th><th>VM / container</th></tr>\n"
        html += "<tr><th>one process</th><td>\(e(cell(.container)))</td><td>\(e(cell(.vm)))</td><td>\(e(ratio(.vm, .container)))</td></tr>\n"
        html += "<tr><th>whole OS</th><td>\(e(cell(.systemContainer)))</td><td>\(e(cell(.osVM)))</td><td>\(e(ratio(.osVM, .systemContainer)))</td></tr>\n"
        html += "<tr><th>whole OS / one process</th><td>\(e(ratio(.systemContainer, .container)))</td><td>\(e(ratio(.osVM, .vm)))</td><td></td></tr>\n</table>\n"

        // Where each cell's time goes: the host's clock before the guest's,
        // then the init's own split (systemd-analyze), then the rest.
        var rows: [(String, [(String, Double)])] = []
        for backend in [BackendKind.container, .vm, .systemContainer, .osVM] where results.backends.contains(backend) {
            guard let ready = results.metric(backend, .ready)?.summary.median else { continue }
            var steps: [(String, Double)] = []
            if let before = results.metric(backend, MetricKey("startup", "before_guest_clock"))?.summary.median { steps.append(("before the guest's clock (define, QEMU, firmware, kernel load)", before)) }
            for phase in ["kernel", "initrd", "userspace"] {
                if let ms = results.metric(backend, MetricKey("boot", phase))?.summary.median {
                    steps.append((phase == "kernel" ? "kernel and initramfs" : phase == "userspace" ? "systemd to multi-user.target" : phase, ms))
                }
            }
            if backend == .vm, let uptime = results.metric(backend, MetricKey("startup", "guest_uptime_at_ready"))?.summary.median { steps.append(("kernel and the agent as init", uptime)) }
            let rest = ready - steps.map(\.1).reduce(0, +)
            let restLabel = steps.isEmpty ? "launch to READY"
                : backend.isVM ? "the rest (" + (backend.isFullOS ? "the agent's service starting, " : "") + "READY on the console)"
                : "the rest (the lab's container set-up, the agent's service starting)"
            steps.append((restLabel, max(rest, 0)))
            rows.append(("\(backend.isFullOS ? "whole OS" : "one process"), \(backend.isVM ? "VM" : "container")", steps))
        }
        html += "<figure>\n" + SVG.stacked(title: "Where the time goes, launch to READY (medians; each bar its own 100 %)", label: "Full-OS boot phases",
                                           left: 190, rows) + "</figure>\n"

        // The slowest units, from the trial whose READY is the median.
        for backend in [BackendKind.systemContainer, .osVM] {
            let trials = results.trials.filter { $0.backend == backend && $0.isCounted && $0.boot != nil }
            guard let median = results.metric(backend, .ready)?.summary.median,
                  let trial = trials.min(by: { abs(readyOf($0) - median) < abs(readyOf($1) - median) }), let boot = trial.boot else { continue }
            html += "<p>\(e(backend.rawValue)), trial \(trial.index): <code>\(e(boot.analyze))</code></p>\n"
            html += "<table class=\"blame\"><tr><th>unit (systemd-analyze blame)</th><th>time</th></tr>\n"
            for unit in boot.blame {
                html += "<tr><td>\(e(unit.unit))</td><td>\(e(unit.text))</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html
    }

    static func readyOf(_ trial: TrialRecord) -> Double {
        trial.samples.first { $0.workload == "startup" && $0.metric == "ready" }?.value ?? .infinity
    }
}

extension HTMLReport {
    /// Each backend's ramp: per N the memory, PSS and idle CPU per instance
    /// and the creation rate; the start latency of each next instance (the
    /// LightVM curve); KSM off and on; why the ramp stopped.
    static func density(_ results: RunResults) -> String {
        guard let runs = results.density, !runs.isEmpty else { return "" }
        var html = "<h2 id=\"density\">Many instances of one image at once</h2>\n"
        html += "<p>Instances started one after another and kept running idle (the agent's <code>idle</code>); at each N the host's "
            + "<code>MemAvailable</code> drop since before the first, the PSS summed over every instance's host processes, their CPU time "
            + "(<code>/proc/PID/stat</code> utime + stime) over an idle window, and the rate at which more start at once. Per instance.</p>\n"
        html += "<table id=\"density-table\"><tr><th>backend</th><th>N</th><th>MemAvailable drop / instance</th><th>PSS / instance</th>"
            + "<th>idle CPU / instance</th><th>started at once</th></tr>\n"
        for run in runs {
            for step in run.steps {
                let rate = step.creationRatePerS.map { String(format: "%.3g instances/s", $0) } ?? "-"
                let drop = Format.mib(step.memAvailableDropPerInstanceMiB) + (run.dropIsUnsettled(step) ? " (MemAvailable still moving)" : "")
                html += "<tr><td>\(e(run.backend.rawValue))</td><td>\(step.n)</td><td>\(e(drop))</td>"
                    + "<td>\(e(Format.mib(step.pssPerInstanceMiB)))</td><td>\(e(String(format: "%.3g ms/s", step.idleCPUPerInstanceMsPerS)))</td><td>\(e(rate))</td></tr>\n"
            }
        }
        html += "</table>\n<ul>\n"
        for run in runs {
            var line = "\(run.backend.rawValue): stopped because \(run.stoppedBecause)"
            if let fit = run.extrapolatedFit {
                line += "; by memory alone (the last step's MemAvailable drop), about \(fit) would fill this host's \(Format.mib(run.memTotalMiB))"
            } else if let last = run.steps.last, run.dropIsUnsettled(last) {
                line += "; MemAvailable was still moving when the drop was read (no 3 s of calm within 90 s): no extrapolation"
            } else {
                line += "; the MemAvailable drop is within the host's own churn: no extrapolation"
            }
            if let tb = run.tbCacheMiB { line += "; TCG translation buffer \(tb) MiB per VM" }
            if !run.complete { line += " (interrupted: partial)" }
            html += "<li>\(e(line))</li>\n"
            if let ksm = run.ksm {
                let profit = ksm.generalProfitBytes.map { Format.mib(Double($0) / 1_048_576) } ?? "n/a"
                html += "<li>\(e("\(run.backend.rawValue), KSM at N = \(ksm.n): PSS per instance \(Format.mib(ksm.pssPerInstanceOffMiB)) off, \(Format.mib(ksm.pssPerInstanceOnMiB)) on; MemAvailable \(Format.mib(ksm.memAvailableOffMiB)) → \(Format.mib(ksm.memAvailableOnMiB)); pages_shared \(ksm.pagesShared), pages_sharing \(ksm.pagesSharing), general_profit \(profit) after \(ksm.fullScans) full scans in \(String(format: "%.0f", ksm.seconds)) s"))</li>\n"
            }
        }
        html += "</ul>\n"
        let series = { (value: (DensityRun.Step) -> Double) in
            runs.map { run in (run.backend.rawValue, SVG.colors[run.backend] ?? "#6b7280", run.steps.map { (Double($0.n), value($0)) }) }
        }
        html += "<figure>\n" + SVG.lines(title: "PSS per instance against N", series(\.pssPerInstanceMiB), xLabel: "instances running", unit: "MiB") + "</figure>\n"
        html += "<figure>\n" + SVG.lines(title: "Host memory used (MemAvailable drop) against N", series { $0.memAvailableDropPerInstanceMiB * Double($0.n) },
                                         xLabel: "instances running", unit: "MiB") + "</figure>\n"
        html += "<figure>\n" + SVG.lines(title: "Start latency of the next instance against the number running (LightVM's curve)",
                                         runs.map { run in (run.backend.rawValue, SVG.colors[run.backend] ?? "#6b7280", run.startLatencies.map { (Double($0.running), $0.ms) }) },
                                         xLabel: "instances already running", unit: "ms") + "</figure>\n"
        return html
    }

    /// The victim alone, beside a neighbour without limits, and with limits.
    static func neighbours(_ results: RunResults) -> String {
        guard let runs = results.neighbours, !runs.isEmpty else { return "" }
        var html = "<h2 id=\"neighbours\">Noisy neighbours</h2>\n"
        html += "<table id=\"neighbour-table\"><tr><th>backend</th><th>victim metric</th><th>alone (median)</th><th>beside an unlimited neighbour</th><th>beside a limited neighbour</th></tr>\n"
        for run in runs {
            for metric in run.metrics {
                let alone = metric.alone.isEmpty ? "-" : String(format: "%.4g %@", Statistics.median(metric.alone), metric.unit)
                html += "<tr><td>\(e(run.backend.rawValue))</td><td>\(e(metric.workload + "." + metric.metric))</td><td>\(e(alone))</td>"
                    + "<td>\(e(Neighbours.ratio(metric.unlimited, metric.alone)))</td><td>\(e(Neighbours.ratio(metric.limited, metric.alone)))</td></tr>\n"
            }
        }
        html += "</table>\n"
        // The sustained rates, the ones a shared CPU shows in: the victim beside each neighbour, relative to alone.
        let bars = runs.flatMap { run in
            run.metrics.filter { $0.metric.contains("sustained") }.flatMap { metric -> [(String, Double, String)] in
                guard !metric.alone.isEmpty else { return [] }
                let alone = Statistics.median(metric.alone)
                return [("unlimited", metric.unlimited, "#dc2626"), ("limited", metric.limited, "#16a34a")].compactMap { name, values, color in
                    values.isEmpty ? nil : ("\(run.backend.rawValue) \(metric.workload) beside \(name)", Statistics.median(values) / alone * 100, color)
                }
            }
        }
        if !bars.isEmpty {
            html += "<figure>\n" + SVG.bars(title: "The victim's sustained rate beside a neighbour, % of alone (median)", bars, unit: "%") + "</figure>\n"
        }
        html += "<ul>\n"
        for run in runs {
            var busy = ""
            for condition in ["unlimited", "limited"] {
                if let cpus = run.neighbourCPUs?[condition], !cpus.isEmpty { busy += String(format: "; %@, it kept %.2f CPUs busy (median)", condition, Statistics.median(cpus)) }
            }
            html += "<li>\(e("\(run.backend.rawValue): the neighbour is \(run.neighbour); limited: \(run.limits)\(busy)"))</li>\n"
            for error in run.errors { html += "<li class=\"warn\">\(e(error))</li>\n" }
        }
        return html + "</ul>\n"
    }
}

extension Claim.Verdict {
    /// The CSS class of the verdict's cell: emulation's verdicts and those
    /// true by construction coloured apart from measured ones.
    var cssClass: String {
        switch self {
        case .holds: "holds"
        case .partlyHolds: "partly"
        case .doesNotHold: "doesnothold"
        case .holdsUnderEmulation, .partlyHoldsUnderEmulation, .doesNotHoldUnderEmulation: "emulation"
        case .byConstruction: "construction"
        case .inconclusive: "inconclusive"
        case .notMeasured: "notmeasured"
        }
    }
}
