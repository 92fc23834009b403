import Foundation
import LabModel
import LabStats

/// One statement of the notes, set against what the run measured. The
/// verdict and every word of `measured` and `evidence` are computed from
/// the results (the trials' samples and the checks' evidence), never written.
public struct Claim: Sendable, Equatable {
    public enum Verdict: String, Sendable, CaseIterable {
        case holds = "holds"
        case partlyHolds = "partly holds"
        case doesNotHold = "does not hold"
        case inconclusive = "inconclusive (noise)"
        case notMeasured = "not measured"

        /// The CSS class of the verdict's cell.
        public var cssClass: String {
            switch self {
            case .holds: "holds"
            case .partlyHolds: "partly"
            case .doesNotHold: "doesnothold"
            case .inconclusive: "inconclusive"
            case .notMeasured: "notmeasured"
            }
        }
    }

    /// Stable key: `startup`, `kernel`, `memory`, `disk`, `hardware`,
    /// `namespace.pid` ..., `cgroup.limit` ..., `density`, `neighbours`.
    public var id: String
    /// The notes' words.
    public var statement: String
    public var measured: String
    public var verdict: Verdict
    /// What was compared, with which instrument, the control and the uncertainty.
    public var evidence: String
}

enum Format {
    /// `4.2 ms`, `4.21 s`, `2.1 min`.
    static func duration(_ ms: Double) -> String {
        if ms >= 60_000 { return String(format: "%.1f min", ms / 60_000) }
        return ms >= 1000 ? String(format: "%.2f s", ms / 1000) : (ms >= 10 ? String(format: "%.1f ms", ms) : String(format: "%.2f ms", ms))
    }

    static func ratio(_ ratio: RatioSummary?) -> String {
        guard let ratio else { return "n/a" }
        return interval(ratio.ratio, ratio.interval)
    }

    static func interval(_ value: Double, _ interval: Interval?) -> String {
        let ci = interval.map { String(format: " [95 %% CI %.3g–%.3g]", $0.lower, $0.upper) } ?? " [no interval: too few trials]"
        return String(format: "%.3g ×", value) + ci
    }

    static func mib(_ value: Double) -> String { value >= 100 ? String(format: "%.0f MiB", value) : String(format: "%.1f MiB", value) }
}

public enum Claims {
    /// Every claim of the notes against `results`, from its trials' samples
    /// (the stored summary is not read: it is a cache).
    public static func evaluate(_ results: RunResults) -> [Claim] {
        let data = ClaimData(results.summarizedFromTrials())
        return [
            startup(data),
            startup(data, container: .systemContainer, vm: .osVM, id: "startup.full-os",
                    statement: "A new container starts in seconds; a new VM takes minutes (the notes' case: each boots a whole operating system)."),
            kernel(data), memory(data), disk(data), hardware(data),
            namespace(data, "pid", "PID namespaces isolate process IDs: a container sees only its own processes."),
            namespace(data, "net", "NET namespaces give each container its own network interfaces and addresses."),
            namespace(data, "ipc", "IPC namespaces isolate System V IPC objects and POSIX message queues."),
            namespace(data, "mnt", "MNT namespaces isolate mount points: a mount on one side is not seen on the other."),
            namespace(data, "uts", "UTS namespaces isolate the hostname and the kernel name and version number."),
            escape(data),
            cgroupLimit(data), cgroupPrioritise(data), cgroupAccount(data), cgroupFreeze(data),
            density(data), neighbours(data),
        ]
    }

    // MARK: - start-up

    static let startupStatement = "A new container starts in seconds; a new VM takes minutes."

    /// The one-process pair (container, vm) by default; the whole-OS pair
    /// (system-container, os-vm) is the notes' own case.
    static func startup(_ data: ClaimData, container containerKind: BackendKind = .container, vm vmKind: BackendKind = .vm,
                        id: String = "startup", statement startupStatement: String = startupStatement) -> Claim {
        let c = data.values(containerKind, "startup", "ready"), v = data.values(vmKind, "startup", "ready")
        guard !c.isEmpty, !v.isEmpty else {
            let hint = containerKind.isFullOS ? " scenarios/full-os.yaml boots a whole OS both ways." : ""
            return Claim(id: id, statement: startupStatement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs \(containerKind.rawValue) and \(vmKind.rawValue) trials that reached READY (\(data.counts(containerKind)); \(data.counts(vmKind))).\(hint)")
        }
        let (container, vm) = (Statistics.median(c), Statistics.median(v))
        let ratio = vm / container
        let interval = Bootstrap.ratioOfMedians(v, c, seed: data.seed)
        let accelerator = data.accelerators(vmKind)
        enum Order { case containerFirst, vmFirst, unclear }
        let order: Order = interval.map { $0.lower > 1 ? .containerFirst : ($0.upper < 1 ? .vmFirst : .unclear) } ?? .unclear
        // The scale from each median's interval, not the median alone: "minutes"
        // once the VM's interval lies at or past a minute, "seconds" while the
        // container's lies below it.
        let (vmMedian, containerMedian) = (Bootstrap.median(v, seed: data.seed), Bootstrap.median(c, seed: data.seed))
        let vmInMinutes = vmMedian.map { $0.lower >= 60_000 } ?? false
        let vmNotMinutes = vmMedian.map { $0.upper < 60_000 } ?? false
        let containerInSeconds = containerMedian.map { $0.upper < 60_000 } ?? false
        let containerInMinutes = containerMedian.map { $0.lower >= 60_000 } ?? false
        let verdict: Claim.Verdict
        var prose = "Medians of \(data.counts(containerKind)) and \(data.counts(vmKind)), launch to READY"
            + (containerKind.isFullOS ? " (READY: the agent's service, once systemd has reached multi-user.target). " : ". ")
            + "The VM takes \(Format.interval(ratio, interval)) as long as the container"
        switch order {
        case .containerFirst:
            prose += ": the order holds, the container is ready first"
            if vmInMinutes && containerInSeconds {
                verdict = .holds
                prose += ", and the scale holds too: the VM took minutes."
            } else if vmNotMinutes || (vmInMinutes && containerInMinutes) {
                verdict = .partlyHolds
                prose += "; the scale does not: the container took \(Format.duration(container)) and the VM \(Format.duration(vm))"
                    + (vmNotMinutes ? ", not minutes." : ", the container minutes too.")
            } else {
                verdict = .inconclusive
                prose += "; the scale is not established: the interval of the VM's median (or the container's) holds one minute."
            }
        case .vmFirst:
            verdict = .doesNotHold
            prose += ": the VM was ready first."
        case .unclear:
            verdict = .inconclusive
            prose += interval == nil ? ": too few trials for an interval." : ": the interval includes 1, the order is not established."
        }
        if accelerator.contains(.tcg) {
            prose += " The VM ran under TCG (software emulation): these are not KVM figures."
        } else if accelerator == [.kvm] {
            prose += " The VM ran under KVM."
        }
        let what = containerKind.isFullOS ? "whole OS: system container" : "container"
        return Claim(id: id, statement: startupStatement,
                     measured: "\(what) ready in \(Format.duration(container)), VM in \(Format.duration(vm)) under \(data.acceleratorLabel(vmKind))",
                     verdict: verdict, evidence: prose)
    }

    // MARK: - density and neighbours

    static let densityStatement = "One image gives many simultaneous instances; containers pack more densely than VMs."

    /// Many: each ramp held at least two instances at once. Denser: the
    /// VM's PSS per instance over the container's at the same N (a
    /// container's falls with N as the shared files spread), one ratio per
    /// N both ramps reached, the median of those ratios with its interval
    /// above 1.
    static func density(_ data: ClaimData) -> Claim {
        let runs = data.results.density ?? []
        guard let container = runs.first(where: { $0.backend == .container }), let vm = runs.first(where: { $0.backend == .vm }),
              !container.steps.isEmpty, !vm.steps.isEmpty else {
            return Claim(id: "density", statement: densityStatement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs a density ramp of the container and the VM (scenarios/density.yaml).")
        }
        let (c, v) = (container.steps.map(\.pssPerInstanceMiB), vm.steps.map(\.pssPerInstanceMiB))
        let containerAt = Dictionary(container.steps.map { ($0.n, $0.pssPerInstanceMiB) }, uniquingKeysWith: { $1 })
        let pairs = vm.steps.compactMap { step in containerAt[step.n].flatMap { $0 > 0 ? (step.n, step.pssPerInstanceMiB / $0) : nil } }
        let ratios = pairs.map(\.1)
        let ratio = ratios.isEmpty ? Statistics.median(v) / Statistics.median(c) : Statistics.median(ratios)
        let interval = Bootstrap.median(ratios, seed: data.seed)
        let reached = (container.steps.map(\.n).max() ?? 0, vm.steps.map(\.n).max() ?? 0)
        let many = reached.0 >= 2 && reached.1 >= 2
        var measured = "at once: \(reached.0) containers, \(reached.1) VMs; PSS per instance \(Format.mib(Statistics.median(c))) and \(Format.mib(Statistics.median(v))) (medians over the ramp)"
        for (run, name) in [(container, "containers"), (vm, "VMs")] {
            if let fit = run.extrapolatedFit { measured += "; by memory alone about \(fit) \(name) would fill this host" }
        }
        let at = pairs.isEmpty ? "no N reached by both ramps" : "at the same N (" + pairs.map { "\($0.0)" }.joined(separator: ", ") + "), the median of one ratio per N"
        var prose = "A VM takes \(Format.interval(ratio, interval)) the PSS of a container, \(at). "
            + "The container ramp stopped because \(container.stoppedBecause); the VM ramp because \(vm.stoppedBecause)."
        if let ksm = vm.ksm {
            prose += " With KSM the VM's PSS per instance went from \(Format.mib(ksm.pssPerInstanceOffMiB)) to \(Format.mib(ksm.pssPerInstanceOnMiB))."
        }
        if vm.tbCacheMiB != nil || data.accelerators(.vm).contains(.tcg) { prose += " The VMs ran under TCG: their memory includes its translation buffer." }
        let verdict: Claim.Verdict
        if !many && [container, vm].contains(where: { ($0.maxInstances ?? 2) < 2 }) {
            // A ramp told to stop at one asked nothing about "many".
            verdict = .notMeasured
            prose = "A ramp was configured to stop at one instance (max_instances), so \"many at once\" was not tried. " + prose
        } else if !many {
            verdict = .doesNotHold
            prose = "Fewer than two instances ran at once. " + prose
        } else if let interval, interval.lower > 1 {
            verdict = .holds
        } else if let interval, interval.upper < 1 {
            verdict = .partlyHolds
            prose += " Many instances, but the VMs packed more densely here."
        } else {
            verdict = .inconclusive
        }
        return Claim(id: "density", statement: densityStatement, measured: measured, verdict: verdict, evidence: prose)
    }

    static let neighboursStatement = "Containers do not disturb each other."

    /// Per victim metric, beside / alone with its interval: disturbed when
    /// the interval lies wholly below 0.95 (more than 5 % slower, beyond noise).
    static func neighbours(_ data: ClaimData) -> Claim {
        guard let run = data.results.neighbours?.first(where: { $0.backend == .container }), !run.metrics.isEmpty else {
            return Claim(id: "neighbours", statement: neighboursStatement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs a noisy-neighbour run of the container (scenarios/neighbour.yaml).")
        }
        func disturbed(_ pick: (NeighbourRun.Metric) -> [Double]) -> [String]? {
            var names: [String] = []
            for metric in run.metrics {
                guard let (_, interval) = Neighbours.interval(pick(metric), metric.alone), let interval else { return nil }
                if interval.upper < 0.95 { names.append(metric.workload + "." + metric.metric) }
            }
            return names
        }
        func worst(_ pick: (NeighbourRun.Metric) -> [Double]) -> String {
            let ratios = run.metrics.compactMap { metric in Neighbours.interval(pick(metric), metric.alone).map { ($0.0, metric.workload + "." + metric.metric) } }
            guard let low = ratios.min(by: { $0.0 < $1.0 }) else { return "-" }
            return String(format: "%.2f×", low.0) + " (\(low.1))"
        }
        let measured = "the victim's slowest metric beside an unlimited neighbour \(worst(\.unlimited)), beside a limited one \(worst(\.limited))"
        guard let unlimited = disturbed(\.unlimited), let limited = disturbed(\.limited) else {
            return Claim(id: "neighbours", statement: neighboursStatement, measured: measured, verdict: .inconclusive,
                         evidence: "Too few victim runs in a condition for an interval.")
        }
        let verdict: Claim.Verdict
        var prose = "The neighbour: \(run.neighbour); its limits: \(run.limits). "
        // The control: a neighbour that was not busy disturbs nothing and proves nothing.
        let busy = run.neighbourCPUs?["unlimited"].flatMap { $0.isEmpty ? nil : Statistics.median($0) }
        if let busy { prose += String(format: "While the victim ran, the unlimited neighbour kept %.2f CPUs busy (median). ", busy) }
        if let limitedBusy = run.neighbourCPUs?["limited"], !limitedBusy.isEmpty {
            prose += String(format: "The limited one %.2f. ", Statistics.median(limitedBusy))
        }
        if unlimited.isEmpty, let busy, busy < NeighbourRun.busyEnoughCPUs {
            verdict = .inconclusive
            prose += String(format: "Under %.2f CPU: the neighbour was not busy enough for an undisturbed victim to mean anything.", NeighbourRun.busyEnoughCPUs)
        } else if unlimited.isEmpty {
            verdict = .holds
            prose += "No victim metric was more than 5 % slower beside it, beyond noise, even without limits. The likely reason: each container is "
                + "a cgroup of its own with the default CPU weight, and the scheduler shares the CPUs between groups, not processes."
        } else if limited.isEmpty, let limitedBusy = run.neighbourCPUs?["limited"], !limitedBusy.isEmpty,
                  Statistics.median(limitedBusy) < NeighbourRun.runningCPUs {
            verdict = .inconclusive
            prose += "It disturbed the victim without limits; with limits it hardly ran at all, so an undisturbed victim there says nothing of the limits."
        } else if limited.isEmpty {
            verdict = .partlyHolds
            prose += "Without limits it disturbs the victim (\(unlimited.joined(separator: ", ")) more than 5 % slower, beyond noise); with limits it does not: the isolation is the cgroups', not the namespaces'."
        } else {
            verdict = .doesNotHold
            prose += "Even with limits the victim was more than 5 % slower beyond noise: \(limited.joined(separator: ", "))."
        }
        return Claim(id: "neighbours", statement: neighboursStatement, measured: measured, verdict: verdict, evidence: prose)
    }

    // MARK: - kernel

    static func kernel(_ data: ClaimData) -> Claim {
        let statement = "Containers use the host's kernel; VMs boot their own."
        let host = data.results.environment.host
        let containerIDs = Set(data.ready(.container).compactMap { $0["boot_id"] })
        let vmIDs = Set(data.ready(.vm).compactMap { $0["boot_id"] })
        guard let hostID = host.bootID, !containerIDs.isEmpty, !vmIDs.isEmpty else {
            return Claim(id: "kernel", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs the host's boot_id and container and VM trials whose READY carried theirs.")
        }
        let containerShares = containerIDs == [hostID]
        let vmOwn = !vmIDs.contains(hostID)
        let verdict: Claim.Verdict = containerShares && vmOwn ? .holds : (containerShares || vmOwn ? .partlyHolds : .doesNotHold)
        let releases = "release: container \(data.ready(.container).first?["kernel"] ?? "?"), VM \(data.ready(.vm).first?["kernel"] ?? "?"), host \(host.kernelRelease)"
        let sameRelease = data.ready(.vm).first?["kernel"] == host.kernelRelease
        return Claim(
            id: "kernel", statement: statement,
            measured: "boot_id: container \(containerShares ? "= host's" : "≠ host's"), VM \(vmOwn ? "its own" : "= host's"); \(releases)",
            verdict: verdict,
            evidence: "/proc/sys/kernel/random/boot_id is one value per booted kernel and is not namespaced: read by the agent in every trial "
                + "(\(containerIDs.count) value(s) in the containers, \(vmIDs.count) in the VMs) against the host's own."
                + (sameRelease ? " The VM's kernel has the host's release string, so comparing releases could not tell them apart; boot_id does." : ""))
    }

    // MARK: - lighter

    static func memory(_ data: ClaimData) -> Claim {
        let statement = "Containers are lighter than VMs in memory."
        let c = data.values(.container, "resources", "pss"), v = data.values(.vm, "resources", "pss")
        guard !c.isEmpty, !v.isEmpty else {
            return Claim(id: "memory", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs container and VM trials measured at READY by the lab's memory instrument (PSS).")
        }
        let (container, vm) = (Statistics.median(c), Statistics.median(v))
        let interval = Bootstrap.ratioOfMedians(v, c, seed: data.seed)
        let verdict: Claim.Verdict = interval.map { $0.lower > 1 ? .holds : ($0.upper < 1 ? .doesNotHold : .inconclusive) } ?? .inconclusive
        var measured = "PSS at READY: container \(Format.mib(container)), VM \(Format.mib(vm))"
        if let bare = data.median(.bare, "resources", "pss") { measured += ", bare \(Format.mib(bare))" }
        var secondary: [String] = []
        if let drop = data.median(.container, "resources", "memavailable_drop"), let vmDrop = data.median(.vm, "resources", "memavailable_drop") {
            secondary.append(String(format: "host MemAvailable drop to READY %.1f MiB (container) and %.1f MiB (VM)", drop, vmDrop))
        }
        if let peak = data.median(.container, "resources", "cgroup_peak") {
            secondary.append(String(format: "the container's cgroup peak %.1f MiB (a cgroup's charge: pages already cached are charged to whoever read them first)", peak))
        }
        if let rss = data.median(.vm, "resources", "rss_peak") { secondary.append(String(format: "QEMU's peak RSS %.0f MiB", rss)) }
        if let ram = data.median(.vm, "resources", "guest_ram") { secondary.append(String(format: "the guest's configured RAM %.0f MiB", ram)) }
        let evidence = "One instrument for every backend: the proportional set size (/proc/PID/smaps_rollup) summed over every host process "
            + "of the instance (container: its cgroup's processes; VM: QEMU and its helpers) at READY; "
            + "the VM uses \(Format.interval(vm / container, interval)) the container's. "
            + (secondary.isEmpty ? "" : "Other instruments, not compared: " + secondary.joined(separator: "; ") + ".")
            + densities(data)
        return Claim(id: "memory", statement: statement, measured: measured, verdict: verdict, evidence: evidence)
    }

    /// The ramps' PSS per instance at their largest N, when the run has them.
    static func densities(_ data: ClaimData) -> String {
        let parts = (data.results.density ?? []).compactMap { run in
            run.steps.last.map { "\(run.backend.rawValue) \(Format.mib($0.pssPerInstanceMiB)) each with \($0.n) running" }
        }
        return parts.isEmpty ? "" : " With many at once (the density ramp): " + parts.joined(separator: ", ") + "."
    }

    static func disk(_ data: ClaimData) -> Claim {
        let statement = "Containers are lighter than VMs on disk."
        guard let containerImage = data.median(.container, "resources", "disk_image"), let vmImage = data.median(.vm, "resources", "disk_image"),
              let containerOwn = data.median(.container, "resources", "disk_instance"), let vmOwn = data.median(.vm, "resources", "disk_instance") else {
            return Claim(id: "disk", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs container and VM trials with their files measured (allocated blocks) before teardown.")
        }
        let kernel = Double(data.results.environment.guestKernel?.sizeBytes ?? 0) / 1_048_576
        let onceSmaller = containerImage < vmImage
        // A few KiB either way is a state file: not a difference.
        let instanceNotLarger = containerOwn <= vmOwn * 1.1 + 8
        let verdict: Claim.Verdict = onceSmaller && instanceNotLarger ? .holds : (onceSmaller || instanceNotLarger ? .partlyHolds : .doesNotHold)
        let measured = String(format: "paid once: container %.1f MiB, VM %.1f MiB; each instance adds: container %.0f KiB, VM %.0f KiB",
                              containerImage, vmImage, containerOwn, vmOwn)
        var evidence = "Allocated blocks of the files each instance was started from (paid once, shared by every instance of the image: "
            + "the container's rootfs; the VM's kernel and initramfs) and of those made for it alone (run directory, state file, volume), "
            + "measured before its teardown. "
        if kernel > 0 {
            evidence += String(format: "Of the VM's %.1f MiB, the kernel's %.1f MiB is structural (a VM needs a kernel, a container uses the host's); ", vmImage, kernel)
            evidence += String(format: "the rest, %.1f MiB, is the image's files packed as an initramfs (%.1f MiB as a tree for the container). ",
                               vmImage - kernel, containerImage)
        }
        if let volume = data.results.environment.volume {
            evidence += "Each instance had a volume (\(volume)): what it adds counts the volume's allocated blocks on both sides."
        } else {
            evidence += "Neither writes its working state to disk here (tmpfs), so what each instance adds is small on both sides."
        }
        return Claim(id: "disk", statement: statement, measured: measured, verdict: verdict, evidence: evidence)
    }

    // MARK: - the hardware

    static func hardware(_ data: ClaimData) -> Claim {
        let statement = "Applications in containers use the hardware directly: better CPU, memory and I/O efficiency than in a VM."
        var rows: [(String, Claim.Verdict, String)] = []
        for (workload, metric, unit) in data.keys where !["startup", "resources"].contains(workload) {
            guard let direction = MetricDirection.of(unit: unit) else { continue }
            let c = data.values(.container, workload, metric), v = data.values(.vm, workload, metric)
            guard !c.isEmpty, !v.isEmpty else { continue }
            // container / VM, oriented so that > 1 means the container does better.
            let better = direction == .higherIsBetter ? Statistics.median(c) / Statistics.median(v) : Statistics.median(v) / Statistics.median(c)
            let interval = direction == .higherIsBetter ? Bootstrap.ratioOfMedians(c, v, seed: data.seed) : Bootstrap.ratioOfMedians(v, c, seed: data.seed)
            let verdict: Claim.Verdict = interval.map { $0.lower > 1 ? .holds : ($0.upper < 1 ? .doesNotHold : .inconclusive) } ?? .inconclusive
            rows.append(("\(workload).\(metric)", verdict, Format.interval(better, interval)))
        }
        guard !rows.isEmpty else {
            return Claim(id: "hardware", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "The scenario runs no cpu, memory, syscall, spawn, fileio or net workload in both a container and a VM (see scenarios/overhead.yaml).")
        }
        let held = rows.filter { $0.1 == .holds }.count, against = rows.filter { $0.1 == .doesNotHold }.count
        let verdict: Claim.Verdict = against > 0 ? .doesNotHold : (held == rows.count ? .holds : (held > 0 ? .partlyHolds : .inconclusive))
        let env = data.results.environment
        var evidence = "Per metric, how many times better the container does than the VM (ratio of medians, oriented so that above 1 favours the container), "
            + "with its 95 % bootstrap interval: a metric holds when the interval excludes 1 in the container's favour, is inconclusive when it includes 1. "
            + "\(held) of \(rows.count) hold\(against > 0 ? ", \(against) go against the claim" : ""). "
        if let budget = env.cpuBudget {
            evidence += "Equal budgets: the process, the container and the guest (\(budget.count) vCPU) pinned to host CPU(s) \(budget.map(String.init).joined(separator: ", ")). "
        } else {
            evidence += "Not pinned: the container could use every host CPU, the guest its vCPUs only. "
        }
        if let volume = env.volume { evidence += "I/O: \(volume). " }
        if data.accelerators(.vm).contains(.tcg) {
            evidence += "The VM ran under TCG: its CPU is emulated, so this compares emulation, not KVM's hardware virtualisation."
        }
        return Claim(id: "hardware", statement: statement,
                     measured: rows.map { "\($0.0) \($0.2) \($0.1.rawValue)" }.joined(separator: "; "), verdict: verdict, evidence: evidence)
    }

    // MARK: - namespaces

    static func namespace(_ data: ClaimData, _ kind: String, _ statement: String) -> Claim {
        guard let evidence = data.results.isolation, !evidence.probes(kind).isEmpty else {
            return Claim(id: "namespace.\(kind)", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Add checks: [isolation] to the scenario.")
        }
        let probes = evidence.probes(kind)
        let measured = probes.map { "\($0.question): inside \($0.inside); bare control \($0.control); host \($0.host)" }.joined(separator: ". ")
        let blind = probes.filter { !$0.controlSawHost }
        guard blind.isEmpty else {
            return Claim(id: "namespace.\(kind)", statement: statement, measured: measured, verdict: .inconclusive,
                         evidence: "The control (the same probe as a bare process) did not see the host's object for: "
                            + blind.map(\.question).joined(separator: "; ") + ". A probe that cannot see the host's object proves nothing by not seeing it inside.")
        }
        let isolated = probes.filter(\.isolated), open = probes.filter { !$0.isolated }
        let verdict: Claim.Verdict = open.isEmpty ? .holds : (isolated.isEmpty ? .doesNotHold : .partlyHolds)
        var prose = "Asked inside a container of the lab's own and, as the control, by the same busybox applets as a bare host process, which saw the host's answer each time. "
        if !isolated.isEmpty { prose += "Isolated: " + isolated.map(\.question).joined(separator: "; ") + ". " }
        if !open.isEmpty { prose += "Not isolated (the container sees the host's): " + open.map(\.question).joined(separator: "; ") + "." }
        return Claim(id: "namespace.\(kind)", statement: statement, measured: measured, verdict: verdict, evidence: prose)
    }

    /// The escape suite: a container isolates only if root inside cannot reach the host.
    static func escape(_ data: ClaimData) -> Claim {
        let statement = "Root in a container cannot reach the host: namespaces and the container's other walls hold."
        guard let evidence = data.results.escape, !evidence.probes.isEmpty else {
            return Claim(id: "escape", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Add checks: [isolation] to the scenario (it runs the escape suite too), or run isolab container escape-test.")
        }
        let refused = evidence.probes.filter { $0.status == .refused }
        let escaped = evidence.probes.filter { $0.status == .escaped }
        let blind = evidence.probes.filter { $0.status == .inconclusive }
        let unrun = evidence.probes.filter { $0.status == .notRun }
        // A suite that did not finish on both sides proves no "holds": what it skipped may be a way out.
        let verdict: Claim.Verdict = !escaped.isEmpty ? .doesNotHold : (refused.isEmpty || !unrun.isEmpty ? .inconclusive : .holds)
        var measured = "\(refused.count) probes refused inside, each allowed on the host as root"
        if !escaped.isEmpty { measured += "; ESCAPED: " + escaped.map { "\($0.name) (\($0.insideText))" }.joined(separator: ", ") }
        if !blind.isEmpty {
            measured += "; \(blind.count) inconclusive, not allowed on the host either: " + blind.map { "\($0.name) (\($0.outsideText))" }.joined(separator: ", ")
        }
        if !unrun.isEmpty {
            measured += "; \(unrun.count) without a result (the probes ended early): " + unrun.map { "\($0.name) (host: \($0.outsideText); inside: \($0.insideText))" }.joined(separator: ", ")
        }
        return Claim(id: "escape", statement: statement, measured: measured, verdict: verdict,
                     evidence: "The agent's escape probes (\(evidence.probes.map(\.name).joined(separator: ", "))), each harmless by construction, "
                        + "inside a container (seccomp \(evidence.seccomp); \(evidence.devices)) and, as the positive control, as root on the host "
                        + "(the chroot escape in a plain chroot). A refusal inside counts only where the control was allowed.")
    }

    // MARK: - cgroups

    static func cgroupClaim(_ data: ClaimData, _ id: String, _ statement: String, _ part: String,
                            _ body: (CgroupEvidence) -> Claim?) -> Claim {
        guard let evidence = data.results.cgroups else {
            return Claim(id: id, statement: statement, measured: "-", verdict: .notMeasured, evidence: "Add checks: [cgroups] to the scenario.")
        }
        if let claim = body(evidence) { return claim }
        let why = evidence.errors.first { $0.hasPrefix(part) } ?? "not measured"
        return Claim(id: id, statement: statement, measured: "-", verdict: .notMeasured, evidence: why)
    }

    static func cgroupLimit(_ data: ClaimData) -> Claim {
        let statement = "cgroups limit what a container may use (memory, processes)."
        return cgroupClaim(data, "cgroup.limit", statement, "limit") { evidence in
            guard let limit = evidence.limit else { return nil }
            let killed = limit.limitedExit.hasPrefix("killed by the memory limit") && (limit.oomKills ?? 0) >= 1
            let peakWithin = limit.peakMiB.map { $0 <= Double(limit.memoryLimitMiB) * 1.02 } ?? false
            let controlCompleted = limit.controlExit == "exited with 0"
            let pidsHeld = (limit.pidsPeak ?? Int.max) <= limit.pidsLimit && (limit.forksRefused ?? 0) > 0
            // The fork bomb's control: without the limit it must pass it.
            let pidsShown = limit.pidsControlPeak.map { $0 > limit.pidsLimit } ?? true
            let measured = "\(limit.allocationMiB) MiB under a \(limit.memoryLimitMiB) MiB limit: \(limit.limitedExit), OOM kills \(limit.oomKills.map(String.init) ?? "?"), "
                + "peak \(limit.peakMiB.map { String(format: "%.1f MiB", $0) } ?? "?"); without the limit: \(limit.controlExit). "
                + "Fork bomb under pids.max \(limit.pidsLimit): at most \(limit.pidsPeak.map(String.init) ?? "?") processes, \(limit.forksRefused.map(String.init) ?? "?") forks refused"
                + (limit.pidsControlPeak.map { "; without the limit: \($0)" } ?? "")
            let verdict: Claim.Verdict
            if !controlCompleted || !pidsShown {
                verdict = .inconclusive
            } else {
                let parts = [killed && peakWithin, pidsHeld]
                verdict = parts.allSatisfy { $0 } ? .holds : (parts.contains(true) ? .partlyHolds : .doesNotHold)
            }
            return Claim(id: "cgroup.limit", statement: statement, measured: measured, verdict: verdict,
                         evidence: "The OOM-kill counter (\(evidence.mode == "v2" ? "memory.events oom_kill" : "memory.oom_control oom_kill")) and the group's peak, "
                            + "against the same allocation in an unlimited container as the control" + (controlCompleted ? " (it completed)" : " (it did not complete: the probe proves nothing)")
                            + "; pids counted while the fork bomb ran, and pids.events max"
                            + (limit.pidsControlPeak == nil ? " (these results have no run of the bomb without the limit)."
                               : ", against the same bomb without the limit" + (pidsShown ? "." : " (it stayed within the limit: the limit proved nothing).")))
        }
    }

    static func cgroupPrioritise(_ data: ClaimData) -> Claim {
        let statement = "cgroups prioritise containers: CPU time is shared by weight."
        return cgroupClaim(data, "cgroup.prioritise", statement, "prioritise") { evidence in
            guard let p = evidence.prioritise else { return nil }
            func percent(_ values: [Double]) -> String { values.map { String(format: "%.0f %%", $0 * 100) }.joined(separator: "/") }
            let controlEven = p.controlShares.allSatisfy { abs($0 - 0.5) <= p.tolerance }
            let weighted = zip(p.shares, p.expected).allSatisfy { abs($0 - $1) <= p.tolerance }
            // The quota caps (an upper bound), and its control shows the program would use more.
            let quotaShown = p.quotaControlUsed >= p.quota + 0.15
            let quotaHeld = p.quotaUsed <= p.quota + 0.05 && quotaShown
            let verdict: Claim.Verdict = !controlEven || !quotaShown ? .inconclusive
                : (weighted && quotaHeld ? .holds : (weighted || quotaHeld ? .partlyHolds : .doesNotHold))
            let measured = "weights \(p.weights.map(String.init).joined(separator: ":")) (\(p.written.joined(separator: ", "))) on one CPU: \(percent(p.shares)) "
                + "(expected \(percent(p.expected)) ± \(Int(p.tolerance * 100))); equal weights: \(percent(p.controlShares)); "
                + String(format: "a quota of %.0f %% of a CPU used %.0f %% (without it: %.0f %%)", p.quota * 100, p.quotaUsed * 100, p.quotaControlUsed * 100)
            return Claim(id: "cgroup.prioritise", statement: statement, measured: measured, verdict: verdict,
                         evidence: String(format: "Two CPU-bound containers pinned to CPU %d, their groups' CPU time over %.0f s once both ran; ", p.cpu, p.windowSeconds)
                            + "the control, equal weights, must split evenly or the machine's noise is larger than the effect"
                            + (controlEven ? " (it did)" : " (it did not: inconclusive)")
                            + "; the quota's control, the same program without it, must use more than the quota"
                            + (quotaShown ? " (it did)." : " (it did not: inconclusive).")
                            + " Weights act only under contention, hence the pinning.")
        }
    }

    static func cgroupAccount(_ data: ClaimData) -> Claim {
        let statement = "cgroups account for what each container uses."
        return cgroupClaim(data, "cgroup.account", statement, "account") { evidence in
            guard let a = evidence.account else { return nil }
            // The control: the idle group must read a small fraction of the busy one's.
            let discriminates = a.idleCgroupMs.map { $0 < 0.1 * a.cgroupMs } ?? true
            let verdict: Claim.Verdict = !discriminates || a.agentMs < 100 ? .inconclusive : (abs(a.ratio - 1) <= a.tolerance ? .holds : .doesNotHold)
            return Claim(id: "cgroup.account", statement: statement,
                         measured: String(format: "the group's CPU time %.0f ms, the agent's own %.0f ms (%.3f ×)", a.cgroupMs, a.agentMs, a.ratio)
                            + (a.idleCgroupMs.map { String(format: "; an idle container's %.1f ms", $0) } ?? ""),
                         verdict: verdict,
                         evidence: "\(a.instrument) of a container whose only process ran the cpu workload, against the CPU time the agent measured for itself "
                            + "(getrusage, itself and its children, on its DONE line); within ± \(Int(a.tolerance * 100)) % counts as agreeing. "
                            + (a.idleCgroupMs == nil ? "These results have no idle control. "
                               : "The control: the same instrument on a container idle as long must read under a tenth of it" + (discriminates ? ". " : " (it did not: inconclusive). "))
                            + (a.agentMs < 100 ? "The agent's own time, under 100 ms, is too little to compare." : ""))
        }
    }

    static func cgroupFreeze(_ data: ClaimData) -> Claim {
        let statement = "cgroups freeze containers, and thaw them."
        return cgroupClaim(data, "cgroup.freeze", statement, "freeze") { evidence in
            guard let f = evidence.freeze else { return nil }
            let counted = f.countBefore > 0
            let held = f.countFrozen == f.countAfterHold
            let resumed = f.countAfterThaw > f.countAfterHold
            let verdict: Claim.Verdict = !counted ? .inconclusive : (held && resumed ? .holds : (held ? .partlyHolds : .doesNotHold))
            var measured = String(format: "a counter at %d; frozen in %.1f ms at %d, %d after %.1f s; thawed in %.1f ms, then %d",
                                  f.countBefore, f.freezeMs, f.countFrozen, f.countAfterHold, f.holdSeconds, f.thawMs, f.countAfterThaw)
            if let before = f.memoryBeforeKiB, let frozen = f.memoryFrozenKiB { measured += "; memory \(before) KiB before, \(frozen) KiB frozen" }
            return Claim(id: "cgroup.freeze", statement: statement, measured: measured, verdict: verdict,
                         evidence: "A shell counting into /tmp/counter, read by the lab from the host through /proc/PID/root; "
                            + (evidence.mode == "v2" ? "cgroup.freeze and cgroup.events frozen." : "freezer.state FROZEN/THAWED.")
                            + (counted ? "" : " The counter never moved: the probe proves nothing."))
        }
    }
}

/// The samples of a run, as the claims read them.
struct ClaimData {
    let results: RunResults
    let seed: UInt64

    init(_ results: RunResults) {
        self.results = results
        self.seed = results.environment.seed
    }

    func values(_ backend: BackendKind, _ workload: String, _ metric: String) -> [Double] {
        results.values(backend, workload, metric)
    }

    func median(_ backend: BackendKind, _ workload: String, _ metric: String) -> Double? {
        let values = values(backend, workload, metric)
        return values.isEmpty ? nil : Statistics.median(values)
    }

    /// (workload, metric, unit) of every counted sample, in the order first seen.
    var keys: [(String, String, String)] {
        var seen = Set<String>()
        var keys: [(String, String, String)] = []
        for trial in results.trials where !trial.warmup && trial.error == nil {
            for sample in trial.samples where seen.insert(sample.workload + "\u{1}" + sample.metric).inserted {
                keys.append((sample.workload, sample.metric, sample.unit))
            }
        }
        return keys
    }

    /// `5 container trials` or `4 of 5 VM trials (1 failed)`: the successful ones counted.
    func counts(_ backend: BackendKind) -> String {
        let planned = results.trials.filter { $0.backend == backend && !$0.warmup }
        let good = planned.filter { $0.error == nil }.count
        let name = backend == .vm ? "VM" : backend.rawValue
        return planned.count == good ? "\(good) \(name) trial\(good == 1 ? "" : "s")" : "\(good) of \(planned.count) \(name) trials (\(planned.count - good) failed)"
    }

    func ready(_ backend: BackendKind) -> [[String: String]] {
        results.trials.filter { $0.backend == backend && !$0.warmup && $0.error == nil }.compactMap(\.ready)
    }

    /// The accelerators the VM trials actually ran with.
    func accelerators(_ backend: BackendKind) -> Set<Accelerator> {
        Set(results.trials.filter { $0.backend == backend && !$0.warmup }.compactMap(\.accelerator))
    }

    var acceleratorLabel: String { acceleratorLabel(.vm) }

    func acceleratorLabel(_ kind: BackendKind) -> String {
        let set = accelerators(kind)
        return set.isEmpty ? "an unknown accelerator" : set.map(\.label).sorted().joined(separator: " and ")
    }
}
