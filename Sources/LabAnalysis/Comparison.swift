import Foundation
import LabModel
import LabStats

/// A metric of the trials' samples, by name: `MetricKey.ready` rather
/// than the pair of strings ("startup", "ready") a sample carries.
public struct MetricKey: Hashable, Sendable, CustomStringConvertible {
    public var workload: String
    public var metric: String

    public init(_ workload: String, _ metric: String) {
        self.workload = workload
        self.metric = metric
    }

    public var description: String { workload + "." + metric }

    /// Launch to READY.
    public static let ready = MetricKey("startup", "ready")
    /// PSS of the instance's host processes at READY.
    public static let pss = MetricKey("resources", "pss")
    public static let memAvailableDrop = MetricKey("resources", "memavailable_drop")
    public static let cgroupPeak = MetricKey("resources", "cgroup_peak")
    public static let rssPeak = MetricKey("resources", "rss_peak")
    public static let guestRAM = MetricKey("resources", "guest_ram")
    /// Allocated blocks of what every instance of the image shares.
    public static let diskImage = MetricKey("resources", "disk_image")
    /// Allocated blocks made for one instance alone.
    public static let diskInstance = MetricKey("resources", "disk_instance")

    /// The lab's own measurements of an instance, not a workload's.
    public static let instrumentWorkloads: Set<String> = ["startup", "resources"]

    /// One metric per resource, declared before any run, that the hardware
    /// claim judges (the others are shown, not judged): with six or fewer,
    /// five trials a side can pass Holm's correction (2/252 ≤ 0.05/6).
    public static let hardwarePrimary: [MetricKey] = [
        MetricKey("cpu", "sieve"), MetricKey("memory", "triad"), MetricKey("syscall", "getppid"),
        MetricKey("spawn", "spawn"), MetricKey("fileio", "rand_write_fsync"), MetricKey("net", "rtt"),
    ]
}

extension RunResults {
    /// Every counted sample of `key` on `backend`.
    public func values(_ backend: BackendKind, _ key: MetricKey) -> [Double] {
        values(backend, key.workload, key.metric)
    }
}

/// Two groups of trials compared by the exact method (LabStats `Exact`):
/// the Hodges–Lehmann ratio, its exact interval, and whether the ratio is
/// shown above or below 1, or why not.
public struct Comparison: Sendable {
    public let ratio: Exact.Ratio?
    public let counts: (numerator: Int, denominator: Int)

    public init(_ numerator: [Double], _ denominator: [Double]) {
        ratio = Exact.ratio(numerator, denominator)
        counts = (numerator.count, denominator.count)
    }

    /// The Hodges–Lehmann ratio; nil when a value is not positive.
    public var estimate: Double? { ratio?.ratio }
    public var interval: Interval? { ratio?.interval() }
    public var direction: Exact.Ratio.Direction? { ratio?.direction() }

    /// Why no direction could be shown, when it was not: too few trials for
    /// a 95 % interval, the guard of unequal counts, or an interval holding 1.
    public var undecided: String? {
        guard direction == nil else { return nil }
        guard let ratio else { return "no ratio: a value is zero or missing" }
        if ratio.interval() == nil { return Comparison.tooFew(counts.numerator, counts.denominator) }
        if ratio.guardWithheld() {
            return "the trial counts differ (\(counts.numerator) and \(counts.denominator)) and the trimmed means do not confirm the ranks"
        }
        return "the interval includes 1"
    }

    /// "too few trials (n = 2 and 2; needs 4 each)".
    public static func tooFew(_ a: Int, _ b: Int, level: Double = 0.95) -> String {
        "too few trials (n = \(a) and \(b); needs \(Exact.minimumPerGroup(level: level)) each)"
    }

    /// `2.01 × [96.8 % CI 1.80–2.30]`.
    public var text: String {
        guard let estimate else { return "n/a" }
        return Format.interval(estimate, interval)
    }
}

/// Numbers in the claims' words: formatted by code, never inside a sentence
/// someone translates.
public enum Format {
    /// `4.2 ms`, `4.21 s`, `2.1 min`.
    public static func duration(_ ms: Double) -> String {
        if ms >= 60_000 { return String(format: "%.1f min", ms / 60_000) }
        return ms >= 1000 ? String(format: "%.2f s", ms / 1000) : (ms >= 10 ? String(format: "%.1f ms", ms) : String(format: "%.2f ms", ms))
    }

    public static func ratio(_ ratio: RatioSummary?) -> String {
        guard let ratio else { return "n/a" }
        return interval(ratio.ratio, ratio.interval)
    }

    /// The interval with the level it achieves (an exact interval reaches
    /// 95 % or more, never exactly: 96.8 % at five trials a side).
    public static func interval(_ value: Double, _ interval: Interval?) -> String {
        let ci = interval.map { String(format: " [%@ CI %.3g–%.3g]", level($0.level), $0.lower, $0.upper) } ?? " [no interval: too few trials]"
        return String(format: "%.3g ×", value) + ci
    }

    /// `96.8 %`.
    public static func level(_ level: Double) -> String {
        let percent = level * 100
        return percent.rounded() == percent ? String(format: "%.0f %%", percent) : String(format: "%.1f %%", (percent * 10).rounded(.down) / 10)
    }

    public static func mib(_ value: Double) -> String { value >= 100 ? String(format: "%.0f MiB", value) : String(format: "%.1f MiB", value) }
}

extension MetricKey {
    public static let cpuTime = MetricKey("resources", "cpu_time")
    public static let teardown = MetricKey("startup", "teardown")
}

extension RunResults {
    public func metric(_ backend: BackendKind, _ key: MetricKey) -> MetricSummary? {
        metric(backend, key.workload, key.metric)
    }

    public func ratio(_ backend: BackendKind, over baseline: BackendKind, _ key: MetricKey) -> RatioSummary? {
        ratio(backend, over: baseline, key.workload, key.metric)
    }

    /// The accelerators the trials of `kind` actually ran with: `TCG`,
    /// `KVM`, or both.
    public func acceleratorLabel(_ kind: BackendKind = .vm) -> String {
        let set = Set(trials.filter { $0.backend == kind && !$0.warmup }.compactMap(\.accelerator))
        return set.isEmpty ? "an unknown accelerator" : set.map(\.label).sorted().joined(separator: " and ")
    }
}
