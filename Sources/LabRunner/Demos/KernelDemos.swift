import Foundation
import LabAnalysis
import LabWire
import LabContainer
import LabCore
import LabModel
import LabStats

/// The kernel: a container runs on the host's (same boot_id, same release),
/// a VM on its own; the same CPU loop timed on all three.
struct KernelDemo: Demo {
    let name = "kernel"
    let title = "One kernel or two: the host's in a container, its own in a VM"
    let claim = ClaimCatalogue.statement("kernel")
    let feature = "the VM (a second container stands in for it)"
    let needsVM = true

    func run(_ s: DemoSession) async throws {
        let host = HostInfo.current()
        let hostHypervisor = ((FileSystem.readTextIfPresent("/proc/cpuinfo") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("flags") }?.split(separator: " ").contains("hypervisor") ?? false) ? "yes" : "no"
        let cpu = InstanceRequest(.agent(["cpu", "--seconds", "1"]), timeout: 600)
        let container = try await InstanceRun.run(try s.container(), cpu)
        let guestBackend: any Backend = s.without ? try s.container() : try await s.vm()
        s.live("booting the guest (\(s.accelerator ?? "container"))...")
        let guest = try await InstanceRun.run(guestBackend, cpu)
        let bare = try await InstanceRun.run(s.context.bare(), cpu)
        let c = container.ready ?? [:], g = guest.ready ?? [:]
        let hostBootID = host.bootID ?? "?"
        s.evidence["host.boot_id"] = hostBootID
        s.evidence["container.boot_id"] = c["boot_id"] ?? "?"
        s.evidence["vm.boot_id"] = g["boot_id"] ?? "?"
        s.step("Start a container; read its boot_id (one per booted kernel, in no namespace) and its kernel release",
               command: "cat /proc/sys/kernel/random/boot_id; uname -r",
               expect: "both the host's: there is one kernel",
               inside: "\(c["boot_id"] ?? "?"); \(c["kernel"] ?? "?")", host: "\(hostBootID); \(host.kernelRelease)",
               passed: c["boot_id"] == hostBootID && c["kernel"] == host.kernelRelease)
        let label = s.without ? "a second container (the VM left out)" : "a VM (\(s.accelerator ?? "?"))"
        s.step("Boot \(label) of the same image; read the same two",
               command: "cat /proc/sys/kernel/random/boot_id; uname -r (the agent, as the guest's init)",
               expect: "its own boot_id, and its own kernel (Debian's cloud kernel)",
               inside: "\(g["boot_id"] ?? "?"); \(g["kernel"] ?? "?")", host: "\(hostBootID); \(host.kernelRelease)",
               passed: g["boot_id"] != nil && g["boot_id"] != hostBootID && g["role"] == "vm")
        s.evidence["vm.hypervisor"] = g["hypervisor"] ?? "?"
        s.evidence["host.hypervisor"] = hostHypervisor
        s.step("Look for the hypervisor flag in /proc/cpuinfo",
               command: "grep -w hypervisor /proc/cpuinfo",
               expect: "set in the VM (a CPU under a VM says so); on the host it is set only if the host is itself a VM",
               inside: "VM: \(g["hypervisor"] ?? "?"); container: \(c["hypervisor"] ?? "?") (the host's CPU)",
               host: hostHypervisor == "yes" ? "yes: this host is itself a virtual machine" : "no",
               passed: g["hypervisor"] == "yes" && c["hypervisor"] == hostHypervisor)
        func rate(_ outcome: InstanceOutcome) -> Double {
            outcome.lines.compactMap { line -> Double? in
                if case .result(let json) = line, let result = try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)),
                   result.metric == "sieve" { return result.value }
                return nil
            }.first ?? 0
        }
        let rates = (bare: rate(bare), container: rate(container), guest: rate(guest))
        s.evidence["sieves.bare"] = String(format: "%.1f", rates.bare)
        s.evidence["sieves.container"] = String(format: "%.1f", rates.container)
        s.evidence["sieves.vm"] = String(format: "%.1f", rates.guest)
        s.chart = DemoChart(title: "The same CPU loop (sieve), 1 s each", unit: "sieves/s", bars: [
            .init(label: "bare", value: rates.bare), .init(label: "container", value: rates.container),
            .init(label: s.without ? "container 2" : "VM (\(s.accelerator ?? "?"))", value: rates.guest),
        ])
        s.step("Time the same CPU loop (a prime sieve, 1 s) bare, in the container and in the VM",
               command: "isolab-agent run cpu --seconds 1",
               expect: "the container at the host's speed; the VM slower under TCG emulation, close under KVM",
               inside: String(format: "container %.0f, VM %.0f sieves/s", rates.container, rates.guest),
               host: String(format: "bare %.0f sieves/s", rates.bare), passed: nil)
        s.control("A bare host process asked the same (no namespace, no VM)",
                  command: "cat /proc/sys/kernel/random/boot_id", expect: "the host's boot_id",
                  inside: bare.ready?["boot_id"] ?? "?", host: hostBootID, sawHost: bare.ready?["boot_id"] == hostBootID)
    }
}

/// A container and a VM of the same image, started at the same instant,
/// each phase shown as it is reached.
struct RaceDemo: Demo {
    let name = "race"
    let title = "The race: a container and a VM started at the same instant"
    let claim = ClaimCatalogue.statement("startup")
    let feature = "the VM (a second container runs against the first)"
    let needsVM = true

    func run(_ s: DemoSession) async throws {
        let request = InstanceRequest(.agent(["noop"]), timeout: 600)
        let container = try s.container()
        let other: any Backend = s.without ? try s.container() : try await s.vm()
        let otherName = s.without ? "container 2" : "VM (\(s.accelerator ?? "?"))"
        let phases = Carried<[String: String]>([:])
        let start = MonotonicClock.now()
        func watch(_ label: String) -> @Sendable (any Instance) async throws -> Void {
            { instance in
                phases.value[label] = "started"
                // Bounded: an instance that never gets ready ends at its request's timeout anyway.
                while MonotonicClock.now() < start + 600_000_000_000 {
                    let timeline = instance.timeline
                    if let last = timeline.phases.last {
                        phases.value[label] = "\(last.name) at \(Self.format(Double(last.ns &- start) / 1e6))"
                    }
                    s.live(phases.value.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: " | "))
                    if timeline.phases.contains(where: { $0.name == "ready" }) { return }
                    try await Task.sleep(nanoseconds: 50_000_000)
                }
            }
        }
        async let first = InstanceRun.run(container, request, endAfterDuring: false, during: watch("container"))
        async let second = InstanceRun.run(other, request, endAfterDuring: false, during: watch(otherName))
        let (a, b) = try await (first, second)
        func ready(_ outcome: InstanceOutcome) -> Double? {
            let marks = outcome.timeline.phases
            guard let begin = marks.first?.ns, let done = marks.first(where: { $0.name == "ready" })?.ns else { return nil }
            return Double(done &- begin) / 1e6
        }
        let (containerMs, otherMs) = (ready(a) ?? .nan, ready(b) ?? .nan)
        s.evidence["container.ready_ms"] = String(format: "%.1f", containerMs)
        s.evidence["other.ready_ms"] = String(format: "%.1f", otherMs)
        s.chart = DemoChart(title: "From the start call to READY", unit: "ms", bars: [
            .init(label: "container", value: containerMs), .init(label: otherName, value: otherMs),
        ])
        for (label, outcome) in [("container", a), (otherName, b)] {
            // The phases up to READY: what the race is about.
            var upToReady: [String] = []
            for step in outcome.timeline.steps() {
                upToReady.append("\(step.name) \(Self.format(step.milliseconds))")
                if step.name == "ready" { break }
            }
            let steps = upToReady.joined(separator: ", ")
            s.step("\(label): every phase from the call to READY", command: label == "container" ? "isolab container run -- isolab-agent run noop" : "isolab vm run -- noop",
                   expect: "a handful of milliseconds for the container; the VM boots a kernel first",
                   inside: steps, host: "READY after \(Self.format(ready(outcome) ?? .nan))", passed: ready(outcome) != nil)
        }
        let ratio = otherMs / containerMs
        s.evidence["ratio"] = String(format: "%.1f", ratio)
        s.step("Compare", command: "-",
               expect: "the container ready first, at least 10 × sooner",
               inside: String(format: "container %@, %@ %@: %.0f × (%@)", Self.format(containerMs), otherName, Self.format(otherMs), ratio,
                              s.accelerator.map { $0 == "TCG" ? "TCG: emulated, not KVM" : $0 } ?? "no VM"),
               host: "", passed: containerMs.isFinite && otherMs.isFinite && ratio >= 10)
        // The control: the floor, the same agent as a plain host process. One
        // start each decides nothing (a bare start can take as long as a
        // container's), so five of each, interleaved and one at a time, and
        // the exact interval of their ratio must lie above 1.
        var bareMs: [Double] = [], soloMs: [Double] = []
        for _ in 0..<Self.controlStarts {
            if let ms = ready(try await InstanceRun.run(s.context.bare(), request)) { bareMs.append(ms) }
            if let ms = ready(try await InstanceRun.run(try s.context.container(), request)) { soloMs.append(ms) }
        }
        let floor = Exact.ratio(soloMs, bareMs)
        let spread = { (values: [Double]) in
            values.isEmpty ? "none" : "median \(Self.format(Statistics.median(values))) (\(Self.format(values.min()!))–\(Self.format(values.max()!)))"
        }
        s.evidence["bare.ready_ms"] = bareMs.isEmpty ? "?" : String(format: "%.1f", Statistics.median(bareMs))
        s.evidence["control.container_ready_ms"] = soloMs.isEmpty ? "?" : String(format: "%.1f", Statistics.median(soloMs))
        let interval = floor?.interval()
        s.control("The same agent as a bare host process: the floor under both (\(Self.controlStarts) starts each, one at a time)",
                  command: "isolab-agent run noop", expect: "ready sooner than the container, beyond the spread: whatever the container adds is the container's",
                  inside: "bare \(spread(bareMs)); container alone \(spread(soloMs))"
                    + (floor.map { String(format: "; container/bare %.2f ×", $0.ratio) } ?? "")
                    + (interval.map { String(format: " [%.1f %% CI %.2f–%.2f]", $0.level * 100, $0.lower, $0.upper) } ?? " [no interval]"),
                  host: "-", sawHost: floor?.direction() == .above)
    }

    /// Starts of each side for the floor's control: five a side give an
    /// exact interval at 96.8 %.
    static let controlStarts = 5

    static func format(_ ms: Double) -> String {
        ms >= 1000 ? String(format: "%.2f s", ms / 1000) : String(format: "%.1f ms", ms)
    }
}
