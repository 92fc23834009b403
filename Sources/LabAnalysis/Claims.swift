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
        /// A VM-side verdict that rests on the VM's speed, measured under
        /// emulation: not KVM's answer, and counted apart.
        case holdsUnderEmulation = "holds under emulation (TCG)"
        case partlyHoldsUnderEmulation = "partly holds under emulation (TCG)"
        case doesNotHoldUnderEmulation = "does not hold under emulation (TCG)"
        /// True because of how the two sides are built, not because of
        /// anything measured: said so, and counted apart.
        case byConstruction = "by construction"
        /// The data cannot decide; the claim's `reason` says why.
        case inconclusive = "inconclusive"
        case notMeasured = "not measured"

        /// The same verdict, when it rests on a VM that ran under TCG.
        public var underEmulation: Verdict {
            switch self {
            case .holds: .holdsUnderEmulation
            case .partlyHolds: .partlyHoldsUnderEmulation
            case .doesNotHold: .doesNotHoldUnderEmulation
            default: self
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
    /// Why the data cannot decide (inconclusive verdicts only).
    public var reason: String?

    public init(id: String, statement: String, measured: String, verdict: Verdict, evidence: String, reason: String? = nil) {
        self.id = id
        self.statement = statement
        self.measured = measured
        self.verdict = verdict
        self.evidence = evidence
        self.reason = verdict == .inconclusive ? (reason ?? "noise") : nil
    }

    /// The verdict as printed: machine-readable first words, then the
    /// reason (`inconclusive: too few trials (n = 2 and 2; needs 4 each)`).
    public var verdictText: String {
        verdict == .inconclusive ? "inconclusive: " + (reason ?? "noise") : verdict.rawValue
    }
}

public enum Claims {
    /// Every claim of the notes against `results`, from its trials' samples
    /// (the stored summary is not read: it is a cache).
    public static func evaluate(_ results: RunResults) -> [Claim] {
        let data = ClaimData(results.summarizedFromTrials())
        return [
            startup(data),
            startup(data, container: .systemContainer, vm: .osVM, id: "startup.full-os"),
            kernel(data), memory(data), disk(data), hardware(data),
            namespace(data, "pid"),
            namespace(data, "net"),
            namespace(data, "ipc"),
            namespace(data, "mnt"),
            namespace(data, "uts"),
            escape(data),
            cgroupLimit(data), cgroupPrioritise(data), cgroupAccount(data), cgroupFreeze(data),
            density(data), neighbours(data),
        ]
    }

    // MARK: - start-up

    /// The one-process pair (container, vm) by default; the whole-OS pair
    /// (system-container, os-vm) is the notes' own case.
    static func startup(_ data: ClaimData, container containerKind: BackendKind = .container, vm vmKind: BackendKind = .vm,
                        id: String = "startup") -> Claim {
        let startupStatement = ClaimCatalogue.statement(id)
        let c = data.values(containerKind, .ready), v = data.values(vmKind, .ready)
        guard !c.isEmpty, !v.isEmpty else {
            let hint = containerKind.isFullOS ? " scenarios/full-os.yaml boots a whole OS both ways." : ""
            return Claim(id: id, statement: startupStatement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs \(containerKind.rawValue) and \(vmKind.rawValue) trials that reached READY (\(data.counts(containerKind)); \(data.counts(vmKind))).\(hint)")
        }
        let (container, vm) = (Statistics.median(c), Statistics.median(v))
        let comparison = Comparison(v, c)
        let accelerator = data.accelerators(vmKind)
        // The scale from one-sided exact bounds of each median, not the
        // median alone: "minutes" once the VM's lower bound is at or past a
        // minute, "seconds" while the container's upper bound is below it.
        let minute = 60_000.0
        let bound = { (values: [Double], upper: Bool) in Exact.medianBound(values, upper: upper) }
        let vmInMinutes = bound(v, false).map { $0 >= minute } ?? false
        let vmNotMinutes = bound(v, true).map { $0 < minute } ?? false
        let containerInSeconds = bound(c, true).map { $0 < minute } ?? false
        let containerInMinutes = bound(c, false).map { $0 >= minute } ?? false
        let scaleKnown = bound(v, true) != nil && bound(c, true) != nil
        var verdict: Claim.Verdict
        var reason: String?
        var prose = "Medians of \(data.counts(containerKind)) and \(data.counts(vmKind)), launch to READY"
            + (containerKind.isFullOS ? " (READY: the agent's service, once systemd has reached multi-user.target). " : ". ")
            + "The VM takes \(comparison.text) as long as the container (Hodges–Lehmann ratio, exact interval)"
        switch comparison.direction {
        case .above:
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
                let n = Exact.minimumForMedianBound()
                reason = scaleKnown ? "the scale is not established: a median's bound lies on the far side of a minute"
                    : "too few trials for the scale (n = \(c.count) and \(v.count); a median's bound needs \(n))"
                prose += "; the scale is not established."
            }
        case .below:
            verdict = .doesNotHold
            prose += ": the VM was ready first."
        case nil:
            verdict = .inconclusive
            reason = comparison.undecided
            prose += ": the order is not established."
        }
        if accelerator.contains(.tcg) {
            verdict = verdict.underEmulation
            prose += " The VM ran under TCG (software emulation): these are not KVM figures, and KVM's answer is not measured until a run with KVM exists."
        } else if accelerator == [.kvm] {
            prose += " The VM ran under KVM."
        }
        let what = containerKind.isFullOS ? "whole OS: system container" : "container"
        return Claim(id: id, statement: startupStatement,
                     measured: "\(what) ready in \(Format.duration(container)), VM in \(Format.duration(vm)) under \(data.acceleratorLabel(vmKind))",
                     verdict: verdict, evidence: prose, reason: reason)
    }

    // MARK: - density and neighbours

    static let densityStatement = ClaimCatalogue.statement("density")

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
        let reached = (container.steps.map(\.n).max() ?? 0, vm.steps.map(\.n).max() ?? 0)
        let many = reached.0 >= 2 && reached.1 >= 2
        var measured = "at once: \(reached.0) containers, \(reached.1) VMs; PSS per instance \(Format.mib(Statistics.median(c))) and \(Format.mib(Statistics.median(v))) (medians over the ramp)"
        for (run, name) in [(container, "containers"), (vm, "VMs")] {
            if let fit = run.extrapolatedFit { measured += "; by memory alone about \(fit) \(name) would fill this host" }
        }
        var prose = "The container ramp stopped because \(container.stoppedBecause); the VM ramp because \(vm.stoppedBecause). "
        // What an extra instance adds, instance by instance, at the largest
        // N both ramps reached: each instance is one observation.
        let common = Set(container.steps.map(\.n)).intersection(vm.steps.map(\.n)).max()
        let step = { (run: DensityRun) in run.steps.first { $0.n == common } }
        let comparison = common.flatMap { _ in
            step(vm)?.instanceAnonMiB.flatMap { vmEach in step(container)?.instanceAnonMiB.map { Comparison(vmEach, $0) } }
        }
        if let comparison, let n = common {
            prose += "With \(n) of each running, what each instance holds alone (its anonymous and shared memory, instance by instance): "
                + "a VM \(comparison.text) a container's (Hodges–Lehmann ratio, exact interval). "
        }
        let ratios = vm.steps.compactMap { step in container.steps.first { $0.n == step.n }.flatMap { $0.pssPerInstanceMiB > 0 ? (step.n, step.pssPerInstanceMiB / $0.pssPerInstanceMiB) : nil } }
        if !ratios.isEmpty {
            prose += "PSS per instance, VM over container, at each N: " + ratios.map { String(format: "%d: %.3g ×", $0.0, $0.1) }.joined(separator: ", ")
                + " (PSS divides shared file pages among their users, so a container's falls as N grows: accounting, not density). "
        }
        if let ksm = vm.ksm {
            prose += "With KSM the VM's PSS per instance went from \(Format.mib(ksm.pssPerInstanceOffMiB)) to \(Format.mib(ksm.pssPerInstanceOnMiB)). "
        }
        if vm.tbCacheMiB != nil || data.accelerators(.vm).contains(.tcg) { prose += "The VMs ran under TCG: their memory includes its translation buffer. " }
        let verdict: Claim.Verdict
        var reason: String?
        // A ramp that stopped early, for memory or time, is evidence in itself.
        let vmStoppedEarly = reached.1 < reached.0 && (vm.maxInstances.map { reached.1 < $0 } ?? true) && vm.complete
        if !many && [container, vm].contains(where: { ($0.maxInstances ?? 2) < 2 }) {
            // A ramp told to stop at one asked nothing about "many".
            verdict = .notMeasured
            prose = "A ramp was configured to stop at one instance (max_instances), so \"many at once\" was not tried. " + prose
        } else if reached.0 < 2 {
            verdict = .doesNotHold
            prose = "Fewer than two containers ran at once. " + prose
        } else if vmStoppedEarly {
            verdict = .holds
            prose = "Containers reached \(reached.0), VMs \(reached.1): the VM ramp stopped first. " + prose
        } else if let direction = comparison?.direction {
            verdict = direction == .above ? .holds : .partlyHolds
            if direction == .below { prose += "Many instances, but the VMs packed more densely here." }
        } else {
            verdict = .inconclusive
            reason = comparison?.undecided ?? "no per-instance memory at an N both ramps reached (results written before it was recorded)"
        }
        return Claim(id: "density", statement: densityStatement, measured: measured, verdict: verdict, evidence: prose, reason: reason)
    }

    static let neighboursStatement = ClaimCatalogue.statement("neighbours")

    /// "Does not disturb" is an equivalence: each victim metric's rate
    /// beside the neighbour over its rate alone must lie, with its 90 %
    /// exact interval (two one-sided tests at 5 %), inside
    /// `Neighbours.band`, stated before any run. Disturbed: shown below the
    /// band (one-sided, Holm over the metrics). Anything else decides
    /// nothing, and a missing or idle control decides nothing either.
    static func neighbours(_ data: ClaimData) -> Claim {
        guard let run = data.results.neighbours?.first(where: { $0.backend == .container }), !run.metrics.isEmpty else {
            return Claim(id: "neighbours", statement: neighboursStatement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs a noisy-neighbour run of the container (scenarios/neighbour.yaml).")
        }
        let unlimited = Neighbours.judge(run, \.unlimited), limited = Neighbours.judge(run, \.limited)
        let band = String(format: "%.2f–%.2f", Neighbours.band.lowerBound, Neighbours.band.upperBound)
        let measured = "beside an unlimited neighbour: \(unlimited.summary); beside a limited one: \(limited.summary)"
        var prose = "The neighbour: \(run.neighbour); its limits: \(run.limits). Per victim metric, its rate beside the neighbour over its rate alone "
            + "(Hodges–Lehmann ratio, 90 % exact interval); undisturbed means inside \(band), stated before the run; disturbed means below it (Holm over the metrics). "
        if let expected = Neighbours.expectedShare(run) {
            prose += String(format: "By its limits, a CPU-bound victim sharing a CPU with the limited neighbour should keep at least %.3f of its rate. ", expected)
        }
        let busy = run.neighbourCPUs?["unlimited"].flatMap { $0.isEmpty ? nil : Statistics.median($0) }
        let limitedBusy = run.neighbourCPUs?["limited"].flatMap { $0.isEmpty ? nil : Statistics.median($0) }
        if let busy { prose += String(format: "While the victim ran, the unlimited neighbour kept %.2f CPUs busy (median)", busy) }
        if let limitedBusy { prose += String(format: ", the limited one %.2f", limitedBusy) }
        if busy != nil { prose += ". " }
        func claim(_ verdict: Claim.Verdict, _ why: String, reason: String? = nil) -> Claim {
            Claim(id: "neighbours", statement: neighboursStatement, measured: measured, verdict: verdict, evidence: prose + why, reason: reason)
        }
        // The control: a neighbour that was not busy disturbs nothing and proves nothing.
        guard let busy else {
            return claim(.inconclusive, "", reason: "the control is missing: no record of how busy the unlimited neighbour was")
        }
        guard busy >= NeighbourRun.busyEnoughCPUs else {
            return claim(.inconclusive, "", reason: String(format: "the unlimited neighbour kept only %.2f CPUs busy (needs %.2f)", busy, NeighbourRun.busyEnoughCPUs))
        }
        if unlimited.allInside {
            return claim(.holds, "Every victim metric stayed inside the band even without limits. The likely reason: each container is a cgroup of its own "
                + "with the default CPU weight, and the scheduler shares the CPUs between groups, not processes.")
        }
        guard !unlimited.below.isEmpty else {
            return claim(.inconclusive, "", reason: unlimited.undecidedReason(band))
        }
        prose += "Without limits it disturbed the victim: \(unlimited.below.joined(separator: ", ")) below the band. "
        guard let limitedBusy else {
            return claim(.inconclusive, "", reason: "the control is missing: no record of how busy the limited neighbour was")
        }
        guard limitedBusy >= NeighbourRun.runningCPUs else {
            return claim(.inconclusive, "", reason: "with limits the neighbour hardly ran at all, so an undisturbed victim there says nothing of the limits")
        }
        if limited.allInside {
            return claim(.partlyHolds, "With the limits every victim metric stayed inside the band: the isolation is the cgroups', not the namespaces'.")
        }
        if !limited.below.isEmpty {
            return claim(.doesNotHold, "Even with limits the victim was disturbed: \(limited.below.joined(separator: ", ")) below the band.")
        }
        return claim(.inconclusive, "", reason: "with limits, " + limited.undecidedReason(band))
    }

    // MARK: - kernel

    static func kernel(_ data: ClaimData) -> Claim {
        let statement = ClaimCatalogue.statement("kernel")
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
        let statement = ClaimCatalogue.statement("memory")
        let c = data.values(.container, .pss), v = data.values(.vm, .pss)
        guard !c.isEmpty, !v.isEmpty else {
            return Claim(id: "memory", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs container and VM trials measured at READY by the lab's memory instrument (PSS).")
        }
        let (container, vm) = (Statistics.median(c), Statistics.median(v))
        let comparison = Comparison(v, c)
        let verdict: Claim.Verdict = comparison.direction.map { $0 == .above ? .holds : .doesNotHold } ?? .inconclusive
        var measured = "PSS at READY: container \(Format.mib(container)), VM \(Format.mib(vm))"
        if let bare = data.median(.bare, .pss) { measured += ", bare \(Format.mib(bare))" }
        var secondary: [String] = []
        if let drop = data.median(.container, .memAvailableDrop), let vmDrop = data.median(.vm, .memAvailableDrop) {
            secondary.append(String(format: "host MemAvailable drop to READY %.1f MiB (container) and %.1f MiB (VM)", drop, vmDrop))
        }
        if let peak = data.median(.container, .cgroupPeak) {
            secondary.append(String(format: "the container's cgroup peak %.1f MiB (a cgroup's charge: pages already cached are charged to whoever read them first)", peak))
        }
        if let rss = data.median(.vm, .rssPeak) { secondary.append(String(format: "QEMU's peak RSS %.0f MiB", rss)) }
        if let ram = data.median(.vm, .guestRAM) { secondary.append(String(format: "the guest's configured RAM %.0f MiB", ram)) }
        let evidence = "One instrument for every backend: the proportional set size (/proc/PID/smaps_rollup) summed over every host process "
            + "of the instance (container: its cgroup's processes; VM: QEMU and its helpers) at READY; "
            + "the VM uses \(comparison.text) the container's (Hodges–Lehmann ratio, exact interval). "
            + (secondary.isEmpty ? "" : "Other instruments, not compared: " + secondary.joined(separator: "; ") + ".")
            + densities(data)
        return Claim(id: "memory", statement: statement, measured: measured, verdict: verdict, evidence: evidence, reason: comparison.undecided)
    }

    /// The ramps' PSS per instance at their largest N, when the run has them.
    static func densities(_ data: ClaimData) -> String {
        let parts = (data.results.density ?? []).compactMap { run in
            run.steps.last.map { "\(run.backend.rawValue) \(Format.mib($0.pssPerInstanceMiB)) each with \($0.n) running" }
        }
        return parts.isEmpty ? "" : " With many at once (the density ramp): " + parts.joined(separator: ", ") + "."
    }

    static func disk(_ data: ClaimData) -> Claim {
        let statement = ClaimCatalogue.statement("disk")
        guard let containerImage = data.median(.container, .diskImage), let vmImage = data.median(.vm, .diskImage),
              let containerOwn = data.median(.container, .diskInstance), let vmOwn = data.median(.vm, .diskInstance) else {
            return Claim(id: "disk", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Needs container and VM trials with their files measured (allocated blocks) before teardown.")
        }
        let kernel = Double(data.results.environment.guestKernel?.sizeBytes ?? 0) / 1_048_576
        // One rule both ways and no margin: smaller is smaller.
        let onceSmaller = containerImage < vmImage
        let instanceNotLarger = containerOwn <= vmOwn
        // The VM's image is the container's files packed, plus a kernel the
        // container does not need: when the kernel alone makes the
        // difference, the answer was known before anything was measured.
        let byKernelAlone = onceSmaller && kernel > 0 && containerImage >= vmImage - kernel
        var verdict: Claim.Verdict = onceSmaller && instanceNotLarger ? .holds : (onceSmaller || instanceNotLarger ? .partlyHolds : .doesNotHold)
        var measured = String(format: "paid once: container %.1f MiB, VM %.1f MiB; each instance adds: container %.0f KiB, VM %.0f KiB",
                              containerImage, vmImage, containerOwn, vmOwn)
        var evidence = "Allocated blocks of the files each instance was started from (paid once, shared by every instance of the image: "
            + "the container's rootfs; the VM's kernel and initramfs) and of those made for it alone (run directory, state file, volume), "
            + "measured before its teardown; the same rule both ways, with no margin. "
        if kernel > 0 {
            evidence += String(format: "Of the VM's %.1f MiB, the kernel's %.1f MiB is structural (a VM needs a kernel, a container uses the host's); ", vmImage, kernel)
            evidence += String(format: "the rest, %.1f MiB, is the image's files packed as an initramfs (%.1f MiB as a tree for the container). ",
                               vmImage - kernel, containerImage)
        }
        if byKernelAlone && instanceNotLarger {
            verdict = .byConstruction
            evidence += "Without its kernel the VM's image is no larger than the container's: the difference is the kernel a VM must carry, so the row holds by construction. "
        }
        if let whole = data.median(.systemContainer, .diskImage), let wholeVM = data.median(.osVM, .diskImage) {
            measured += String(format: "; whole OS, paid once: system container %.1f MiB, VM %.1f MiB", whole, wholeVM)
            evidence += "The whole-OS pair is shown beside it: the VM's disk image carries a filesystem and a kernel the system container does not. "
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
        let statement = ClaimCatalogue.statement("hardware")
        struct Row {
            var key: MetricKey
            var comparison: Comparison
            var primary: Bool
        }
        var rows: [Row] = []
        for (workload, metric, unit) in data.keys where !MetricKey.instrumentWorkloads.contains(workload) {
            guard let direction = MetricDirection.of(unit: unit) else { continue }
            let c = data.values(.container, MetricKey(workload, metric)), v = data.values(.vm, MetricKey(workload, metric))
            guard !c.isEmpty, !v.isEmpty else { continue }
            // Oriented so that > 1 means the container does better.
            let comparison = direction == .higherIsBetter ? Comparison(c, v) : Comparison(v, c)
            let key = MetricKey(workload, metric)
            rows.append(Row(key: key, comparison: comparison, primary: MetricKey.hardwarePrimary.contains(key)))
        }
        guard !rows.isEmpty else {
            return Claim(id: "hardware", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "The scenario runs no cpu, memory, syscall, spawn, fileio or net workload in both a container and a VM (see scenarios/overhead.yaml).")
        }
        // The judged metrics: one per resource, declared in advance, with
        // Holm's correction over them; the rest are shown, not judged.
        let primary = rows.filter(\.primary)
        let p = primary.map { $0.comparison.ratio?.p ?? 1 }
        let (rejected, adjusted) = Exact.holm(p)
        var favour: [String] = [], against: [String] = []
        for (index, row) in primary.enumerated() where rejected[index] {
            // With unequal counts the trimmed means must confirm the ranks' side.
            let agrees = row.comparison.counts.numerator == row.comparison.counts.denominator || row.comparison.direction != nil
            guard agrees, let estimate = row.comparison.estimate else { continue }
            if estimate > 1 { favour.append(row.key.description) } else { against.append(row.key.description) }
        }
        let env = data.results.environment
        var verdict: Claim.Verdict
        var reason: String?
        if primary.isEmpty {
            verdict = .inconclusive
            reason = "none of the judged metrics (" + MetricKey.hardwarePrimary.map(\.description).joined(separator: ", ") + ") ran on both sides"
        } else if env.cpuBudget == nil {
            verdict = .inconclusive
            reason = "unequal budgets: the run was not pinned (cpus: absent), so the container could use every host CPU and the guest its vCPUs only"
        } else if !against.isEmpty {
            verdict = .doesNotHold
        } else if favour.count == primary.count {
            verdict = .holds
        } else if !favour.isEmpty {
            verdict = .partlyHolds
        } else {
            verdict = .inconclusive
            let smallest = primary.map { min($0.comparison.counts.numerator, $0.comparison.counts.denominator) }.min() ?? 0
            let needs = Exact.minimumPerGroup(level: 1 - 0.05 / Double(primary.count))
            reason = smallest < needs ? "too few trials for \(primary.count) metrics under Holm's correction (n = \(smallest); needs \(needs) each)"
                : "no judged metric differs beyond noise after Holm's correction"
        }
        if data.accelerators(.vm).contains(.tcg) { verdict = verdict.underEmulation }
        func line(_ row: Row) -> String {
            var text = "\(row.key) \(row.comparison.text)"
            if let index = primary.firstIndex(where: { $0.key == row.key }) {
                text += String(format: ", Holm-adjusted p %.3g", adjusted[index])
            } else {
                text += " (shown, not judged)"
            }
            return text
        }
        var evidence = "Per metric, how many times better the container does than the VM (Hodges–Lehmann ratio, oriented so that above 1 favours "
            + "the container) with its exact interval. Judged: one metric per resource, declared before the run ("
            + MetricKey.hardwarePrimary.map(\.description).joined(separator: ", ") + "), each by its exact p-value with Holm's correction over "
            + "the \(primary.count) present; the rest are shown, not judged. "
            + "\(favour.count) of \(primary.count) favour the container\(against.isEmpty ? "" : ", \(against.count) go against the claim (\(against.joined(separator: ", ")))"). "
        if let budget = env.cpuBudget {
            evidence += "Equal budgets: the process, the container and the guest (\(budget.count) vCPU) pinned to host CPU(s) \(budget.map(String.init).joined(separator: ", ")). "
        }
        evidence += nearNative(data)
        if let volume = env.volume { evidence += "I/O: \(volume). " }
        if data.accelerators(.vm).contains(.tcg) {
            evidence += "The VM ran under TCG: its CPU is emulated, so this compares emulation, not KVM's hardware virtualisation; KVM's answer is not measured."
        }
        return Claim(id: "hardware", statement: statement, measured: rows.map(line).joined(separator: "; "), verdict: verdict,
                     evidence: evidence, reason: reason)
    }

    /// "Near-native": the container against bare on each declared metric,
    /// shown inside a band stated beforehand (the same equivalence rule as
    /// the neighbours'), not merely "no difference found".
    static func nearNative(_ data: ClaimData) -> String {
        var inside: [String] = [], outside: [String] = [], undecided: [String] = []
        for key in MetricKey.hardwarePrimary {
            let c = data.values(.container, key), b = data.values(.bare, key)
            guard !c.isEmpty, !b.isEmpty, let unit = data.keys.first(where: { $0.0 == key.workload && $0.1 == key.metric })?.2,
                  let direction = MetricDirection.of(unit: unit),
                  let ratio = direction == .higherIsBetter ? Exact.ratio(c, b) : Exact.ratio(b, c) else { continue }
            let text = key.description + " " + Format.interval(ratio.ratio, ratio.interval(level: 0.9))
            switch Exact.equivalence(ratio, band: NearNative.band) {
            case .inside: inside.append(text)
            case .below, .above: outside.append(text)
            case .undecided, .tooFew: undecided.append(text)
            }
        }
        guard !(inside.isEmpty && outside.isEmpty && undecided.isEmpty) else { return "" }
        var text = String(format: "Near-native, the container against bare within %.2f–%.2f (90 %% exact interval, two one-sided tests): ",
                          NearNative.band.lowerBound, NearNative.band.upperBound)
        var parts: [String] = []
        if !inside.isEmpty { parts.append("inside for " + inside.joined(separator: ", ")) }
        if !outside.isEmpty { parts.append("outside for " + outside.joined(separator: ", ")) }
        if !undecided.isEmpty { parts.append("undecided for " + undecided.joined(separator: ", ")) }
        text += parts.joined(separator: "; ") + ". "
        return text
    }

    // MARK: - namespaces

    static func namespace(_ data: ClaimData, _ kind: String) -> Claim {
        let statement = ClaimCatalogue.statement("namespace.\(kind)")
        guard let evidence = data.results.isolation, !evidence.probes(kind).isEmpty else {
            return Claim(id: "namespace.\(kind)", statement: statement, measured: "-", verdict: .notMeasured,
                         evidence: "Add checks: [isolation] to the scenario.")
        }
        let probes = evidence.probes(kind)
        let measured = probes.map { "\($0.question): inside \($0.inside); bare control \($0.control); host \($0.host)" }.joined(separator: ". ")
        let judged = probes.map { ($0, IsolationRules.judge($0)) }
        let unreadable = judged.filter { $0.1 == nil }.map(\.0)
        guard unreadable.isEmpty else {
            return Claim(id: "namespace.\(kind)", statement: statement, measured: measured, verdict: .inconclusive,
                         evidence: "No rule reads these probes' observations: " + unreadable.map(\.question).joined(separator: "; ") + ".",
                         reason: "a probe's observations could not be read")
        }
        let stored = judged.contains { $0.1?.stored == true }
        let storedNote = stored ? " These results were written before the probes' raw observations were kept: their judgements are taken as stored, not recomputed." : ""
        let blind = judged.filter { $0.1?.controlSawHost == false }.map(\.0)
        guard blind.isEmpty else {
            return Claim(id: "namespace.\(kind)", statement: statement, measured: measured, verdict: .inconclusive,
                         evidence: "The control (the same probe as a bare process) did not see the host's object for: "
                            + blind.map(\.question).joined(separator: "; ") + ". A probe that cannot see the host's object proves nothing by not seeing it inside." + storedNote,
                         reason: "the control did not see the host's object")
        }
        let isolated = judged.filter { $0.1?.isolated == true }.map(\.0), open = judged.filter { $0.1?.isolated == false }.map(\.0)
        let verdict: Claim.Verdict = open.isEmpty ? .holds : (isolated.isEmpty ? .doesNotHold : .partlyHolds)
        var prose = "Asked inside a container of the lab's own and, as the control, by the same busybox applets as a bare host process, which saw the host's answer each time. "
        if !isolated.isEmpty { prose += "Isolated: " + isolated.map(\.question).joined(separator: "; ") + ". " }
        if !open.isEmpty { prose += "Not isolated (the container sees the host's): " + open.map(\.question).joined(separator: "; ") + "." }
        return Claim(id: "namespace.\(kind)", statement: statement, measured: measured, verdict: verdict, evidence: prose + storedNote)
    }

    /// The escape suite: a container isolates only if root inside cannot reach the host.
    static func escape(_ data: ClaimData) -> Claim {
        let statement = ClaimCatalogue.statement("escape")
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
        let statement = ClaimCatalogue.statement("cgroup.limit")
        return cgroupClaim(data, "cgroup.limit", statement, "limit") { evidence in
            guard let limit = evidence.limit else { return nil }
            let killed = limit.limitedExit.hasPrefix("killed by the memory limit") && (limit.oomKills ?? 0) >= 1
            let peakWithin = limit.peakMiB.map { $0 <= Double(limit.memoryLimitMiB) * 1.02 } ?? false
            let controlCompleted = limit.controlExit == "exited with 0"
            let pidsHeld = (limit.pidsPeak ?? Int.max) <= limit.pidsLimit && (limit.forksRefused ?? 0) > 0
            // The fork bomb's control: without the limit it must pass it. No
            // control run, no proof.
            let pidsShown = limit.pidsControlPeak.map { $0 > limit.pidsLimit } ?? false
            let measured = "\(limit.allocationMiB) MiB under a \(limit.memoryLimitMiB) MiB limit: \(limit.limitedExit), OOM kills \(limit.oomKills.map(String.init) ?? "?"), "
                + "peak \(limit.peakMiB.map { String(format: "%.1f MiB", $0) } ?? "?"); without the limit: \(limit.controlExit). "
                + "Fork bomb under pids.max \(limit.pidsLimit): at most \(limit.pidsPeak.map(String.init) ?? "?") processes, \(limit.forksRefused.map(String.init) ?? "?") forks refused"
                + (limit.pidsControlPeak.map { "; without the limit: \($0)" } ?? "")
            let verdict: Claim.Verdict
            var reason: String?
            if !controlCompleted || !pidsShown {
                verdict = .inconclusive
                reason = !controlCompleted ? "the allocation's control (no limit) did not complete"
                    : (limit.pidsControlPeak == nil ? "the control is missing: no run of the fork bomb without the limit"
                       : "the fork bomb's control stayed within the limit, so the limit proved nothing")
            } else {
                let parts = [killed && peakWithin, pidsHeld]
                verdict = parts.allSatisfy { $0 } ? .holds : (parts.contains(true) ? .partlyHolds : .doesNotHold)
            }
            return Claim(id: "cgroup.limit", statement: statement, measured: measured, verdict: verdict,
                         evidence: "The OOM-kill counter (\(evidence.mode == "v2" ? "memory.events oom_kill" : "memory.oom_control oom_kill")) and the group's peak, "
                            + "against the same allocation in an unlimited container as the control" + (controlCompleted ? " (it completed)" : " (it did not complete: the probe proves nothing)")
                            + "; pids counted while the fork bomb ran, and pids.events max"
                            + (limit.pidsControlPeak == nil ? " (these results have no run of the bomb without the limit)."
                               : ", against the same bomb without the limit" + (pidsShown ? "." : " (it stayed within the limit: the limit proved nothing).")),
                         reason: reason)
        }
    }

    static func cgroupPrioritise(_ data: ClaimData) -> Claim {
        let statement = ClaimCatalogue.statement("cgroup.prioritise")
        return cgroupClaim(data, "cgroup.prioritise", statement, "prioritise") { evidence in
            guard let p = evidence.prioritise else { return nil }
            func percent(_ values: [Double]) -> String { values.map { String(format: "%.0f %%", $0 * 100) }.joined(separator: "/") }
            // The rule's tolerance is the analysis's, not the one the results
            // carry (older results stored it: it is ignored).
            let tolerance = CgroupRules.shareTolerance
            let controlEven = p.controlShares.count == 2 && p.controlShares.allSatisfy { abs($0 - 0.5) <= tolerance }
            let weighted = !p.shares.isEmpty && zip(p.shares, p.expected).allSatisfy { abs($0 - $1) <= tolerance }
            // The quota caps (an upper bound), and its control shows the program would use more.
            let quotaShown = p.quotaControlUsed >= p.quota + 0.15
            let quotaHeld = p.quotaUsed <= p.quota + 0.05 && quotaShown
            let verdict: Claim.Verdict = !controlEven || !quotaShown ? .inconclusive
                : (weighted && quotaHeld ? .holds : (weighted || quotaHeld ? .partlyHolds : .doesNotHold))
            let reason = !controlEven ? "the control (equal weights) did not split evenly: the machine's noise is larger than the effect"
                : "the quota's control used no more than the quota, so the quota proved nothing"
            let measured = "weights \(p.weights.map(String.init).joined(separator: ":")) (\(p.written.joined(separator: ", "))) on one CPU: \(percent(p.shares)) "
                + "(expected \(percent(p.expected)) ± \(Int(tolerance * 100))); equal weights: \(percent(p.controlShares)); "
                + String(format: "a quota of %.0f %% of a CPU used %.0f %% (without it: %.0f %%)", p.quota * 100, p.quotaUsed * 100, p.quotaControlUsed * 100)
            return Claim(id: "cgroup.prioritise", statement: statement, measured: measured, verdict: verdict,
                         evidence: String(format: "Two CPU-bound containers pinned to CPU %d, their groups' CPU time over %.0f s once both ran; ", p.cpu, p.windowSeconds)
                            + "the control, equal weights, must split evenly or the machine's noise is larger than the effect"
                            + (controlEven ? " (it did)" : " (it did not: inconclusive)")
                            + "; the quota's control, the same program without it, must use more than the quota"
                            + (quotaShown ? " (it did)." : " (it did not: inconclusive).")
                            + " Weights act only under contention, hence the pinning.",
                         reason: reason)
        }
    }

    static func cgroupAccount(_ data: ClaimData) -> Claim {
        let statement = ClaimCatalogue.statement("cgroup.account")
        return cgroupClaim(data, "cgroup.account", statement, "account") { evidence in
            guard let a = evidence.account else { return nil }
            // The control: the idle group must read a small fraction of the
            // busy one's; results without it prove nothing.
            let discriminates = a.idleCgroupMs.map { $0 < 0.1 * a.cgroupMs } ?? false
            let tolerance = CgroupRules.accountTolerance
            let verdict: Claim.Verdict = !discriminates || a.agentMs < 100 ? .inconclusive : (abs(a.ratio - 1) <= tolerance ? .holds : .doesNotHold)
            let reason = a.idleCgroupMs == nil ? "the control is missing: no idle container was measured"
                : (!discriminates ? "the idle control read as much as a tenth of the busy group" : "the agent's own CPU time, under 100 ms, is too little to compare")
            return Claim(id: "cgroup.account", statement: statement,
                         measured: String(format: "the group's CPU time %.0f ms, the agent's own %.0f ms (%.3f ×)", a.cgroupMs, a.agentMs, a.ratio)
                            + (a.idleCgroupMs.map { String(format: "; an idle container's %.1f ms", $0) } ?? ""),
                         verdict: verdict,
                         evidence: "\(a.instrument) of a container whose only process ran the cpu workload, against the CPU time the agent measured for itself "
                            + "(getrusage, itself and its children, on its DONE line); within ± \(Int(tolerance * 100)) % counts as agreeing. "
                            + (a.idleCgroupMs == nil ? "These results have no idle control. "
                               : "The control: the same instrument on a container idle as long must read under a tenth of it" + (discriminates ? ". " : " (it did not: inconclusive). "))
                            + (a.agentMs < 100 ? "The agent's own time, under 100 ms, is too little to compare." : ""),
                         reason: reason)
        }
    }

    static func cgroupFreeze(_ data: ClaimData) -> Claim {
        let statement = ClaimCatalogue.statement("cgroup.freeze")
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
                            + (counted ? "" : " The counter never moved: the probe proves nothing."),
                         reason: "the counter never moved before the freeze")
        }
    }
}

/// "Near-native": how close to bare counts, stated before any run.
public enum NearNative {
    public static let band = 0.9...1.1
}

/// The rules' parameters: the analysis's, versioned with it, never read
/// from results.
public enum CgroupRules {
    /// How far a CPU share may sit from the weights' expectation (and an
    /// even split from one half).
    public static let shareTolerance = 0.08
    /// How far the group's CPU time may sit from the agent's own, relatively.
    public static let accountTolerance = 0.1
}

/// The samples of a run, as the claims read them.
struct ClaimData {
    let results: RunResults

    init(_ results: RunResults) {
        self.results = results
    }

    func values(_ backend: BackendKind, _ key: MetricKey) -> [Double] {
        results.values(backend, key)
    }

    func median(_ backend: BackendKind, _ key: MetricKey) -> Double? {
        let values = values(backend, key)
        return values.isEmpty ? nil : Statistics.median(values)
    }

    /// (workload, metric, unit) of every counted sample, in the order first seen.
    var keys: [(String, String, String)] {
        var seen = Set<String>()
        var keys: [(String, String, String)] = []
        for trial in results.trials where trial.isCounted {
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
        results.trials.filter { $0.backend == backend && $0.isCounted }.compactMap(\.ready)
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
