import CAgentShim
import LabWire
import Glibc

/// The escape suite: attempts to reach the host that root in a container
/// must be refused. Each RESULT's value is the errno of the attempt, 0 when
/// the kernel let it through (metric: the probe's name, unit `errno`). The
/// lab runs the same suite on the host as the positive control, where each
/// must be allowed for a refusal inside to prove anything.
public enum EscapeWorkload {
    static var probes: [(name: String, tries: String)] { EscapeProbes.all }

    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        let only = run.params["only"] ?? "all"
        guard only == "all" || probes.contains(where: { $0.name == only }) else {
            throw .badInput("--only \(only) is not a probe", workload: run.name, accepted: ["all"] + probes.map(\.name))
        }
        let device = (run.params["dev"] ?? "").split(separator: ":").compactMap { UInt32($0) }
        let target = Int32(run.int("target") ?? 0)
        let marker = run.params["marker"] ?? "/nonexistent"
        let takeTerminal = (run.int("take-tty") ?? 0) != 0
        for probe in probes where only == "all" || only == probe.name {
            let start = Sys.monotonicNs()
            let err: Int32
            switch probe.name {
            case "mknod_host_disk":
                err = device.count == 2 ? lab_probe_mknod_open("/tmp/isolab-escape-disk", 1, device[0], device[1], 1) : EINVAL
            case "mknod_kmsg": err = lab_probe_mknod_open("/tmp/isolab-escape-kmsg", 0, 1, 11, 0)
            case "write_sysrq_trigger": err = lab_probe_open("/proc/sysrq-trigger", O_WRONLY)
            case "write_core_pattern": err = lab_probe_open("/proc/sys/kernel/core_pattern", O_WRONLY)
            case "read_kcore": err = lab_probe_open("/proc/kcore", O_RDONLY)
            case "mount_tmpfs": err = lab_probe_mount("/tmp/isolab-escape-mnt")
            case "init_module": err = lab_probe_init_module()
            case "finit_module": err = lab_probe_finit_module()
            case "kexec_load": err = lab_probe_kexec_load()
            case "open_by_handle_at": err = lab_probe_open_by_handle_at()
            case "bpf": err = lab_probe_bpf()
            case "perf_event_open": err = lab_probe_perf_event_open()
            case "keyctl": err = lab_probe_keyctl()
            case "userns_mount": err = lab_probe_userns_mount()
            case "ptrace_outside": err = target > 0 ? lab_probe_ptrace(target) : EINVAL
            case "chroot_escape": err = lab_probe_chroot_escape("/tmp/isolab-escape-chroot", marker)
            default: err = lab_probe_tiocsti(0, takeTerminal ? 1 : 0)
            }
            reporter.emit(run, metric: probe.name, value: Double(err), unit: "errno", durationNs: Sys.monotonicNs() - start)
        }
    }
}
