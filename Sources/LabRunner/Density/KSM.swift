import Foundation
import LabCore
import LabModel

/// Kernel samepage merging (`/sys/kernel/mm/ksm`), as Kata's density metrics
/// use it: the guests' RAM, which QEMU marks mergeable, measured with KSM
/// off and then on, once `full_scans` has advanced twice. The host's
/// settings are restored afterwards (merged pages unmerged first when KSM was
/// off), on Ctrl-C too.
enum KSM {
    static let directory = "/sys/kernel/mm/ksm"

    struct Settings: Equatable {
        var run: String
        var pagesToScan: String
        var sleepMillisecs: String
    }

    static func read(_ name: String) -> String? { FileSystem.readTextIfPresent(directory + "/" + name)?.trimmingWhitespace() }
    static func number(_ name: String) -> Int { Int(read(name) ?? "") ?? 0 }

    static func write(_ name: String, _ value: String) throws {
        try FileSystem.writeControl(directory + "/" + name, value)
    }

    static func current() -> Settings? {
        guard let run = read("run"), let pages = read("pages_to_scan"), let sleep = read("sleep_millisecs") else { return nil }
        return Settings(run: run, pagesToScan: pages, sleepMillisecs: sleep)
    }

    static func restore(_ settings: Settings) {
        // 2 unmerges every merged page and stops ksmd: back to how it was.
        if settings.run == "0" { try? write("run", "2") }
        try? write("pages_to_scan", settings.pagesToScan)
        try? write("sleep_millisecs", settings.sleepMillisecs)
        try? write("run", settings.run)
    }

    /// KSM on (fast scanning) until two full scans, then the figures, then the
    /// host's settings back. `pssNow` reads the instances' PSS per instance.
    static func measure(n: Int, pssOff: Double, timeout: Double = 180, pssNow: () -> Double) async throws -> DensityRun.KSM {
        guard let saved = current() else { throw LabError(.unsupported, "this kernel has no KSM (\(directory))") }
        let token = CleanupRegistry.shared.register { restore(saved) }
        defer {
            restore(saved)
            CleanupRegistry.shared.unregister(token)
        }
        let availableOff = Double(MemAvailable.read() ?? 0) / 1024
        try write("pages_to_scan", "5000")
        try write("sleep_millisecs", "10")
        try write("run", "1")
        let start = MonotonicClock.now()
        let scans = number("full_scans")
        let deadline = start + UInt64(timeout * 1e9)
        while number("full_scans") < scans + 2 && MonotonicClock.now() < deadline {
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        let result = DensityRun.KSM(
            n: n, pssPerInstanceOffMiB: pssOff, pssPerInstanceOnMiB: pssNow(), memAvailableOffMiB: availableOff,
            memAvailableOnMiB: Double(MemAvailable.read() ?? 0) / 1024, pagesShared: number("pages_shared"), pagesSharing: number("pages_sharing"),
            generalProfitBytes: read("general_profit").flatMap { Int($0) }, fullScans: number("full_scans") - scans,
            seconds: Double(MonotonicClock.now() - start) / 1e9)
        return result
    }
}
