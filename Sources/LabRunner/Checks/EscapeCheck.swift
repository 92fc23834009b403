import Foundation
import LabWire
import LabContainer
import LabCore
import LabModel

/// The escape suite: the agent's `escape` probes run inside a container of
/// the lab's own, where each must be refused, and on the host as root, the
/// positive control, where each must be allowed for the refusal to count.
/// The chroot escape's control is a plain chroot, the sandbox it defeats.
/// The TIOCSTI probe gets a pty of its own on each side: the control makes
/// it its controlling terminal, as a shell does; the container, started in
/// a session of its own, cannot inject into it.
enum EscapeCheck {
    /// The probes that count once past the kernel's permission check (the
    /// kernel then refuses the made-up request itself).
    static let pastPermission: Set<String> = ["init_module", "finit_module", "kexec_load", "open_by_handle_at", "bpf"]

    static func run(_ context: CheckContext, seccomp: Seccomp.Profile = .default, restrictDevices: Bool = true) async throws -> EscapeEvidence {
        // The host's root block device, for the mknod probe.
        let (major, minor) = rootDevice()
        // A host path the chroot escape looks for: absent in the container.
        let marker = context.paths.run + "/escape-marker-\(InstanceID.next())"
        try FileSystem.writeAtomically(marker, text: "host\n")
        defer { unlink(marker) }
        // A host process the ptrace probe reaches for: a sleeping child of the lab's.
        let result = Carried<EscapeEvidence?>(nil)
        let sleeper = context.bare()
        _ = try await InstanceRun.run(sleeper, InstanceRequest(.command([context.rootfs + "/bin/sleep", "60"]), timeout: 120)) { target in
            guard let pid = target.hostProcesses().first else { throw LabError(.failed, "the ptrace probe's target did not start") }
            let arguments = ["escape", "--dev", "\(major):\(minor)", "--target", String(pid), "--marker", marker]
            let outside = try await probe(context.bare(), arguments + ["--take-tty", "1"])
            let chroot = try await chrootControl(context, marker: marker)
            var template = ContainerSpec(rootfs: context.rootfs, command: [], capabilities: try Capabilities.set(adding: [], dropping: []).mask)
            template.seccomp = seccomp
            template.restrictDevices = restrictDevices
            let inside = try await probe(ContainerBackend(template: template, layout: context.layout, paths: context.paths), arguments)
            result.value = EscapeEvidence(
                probes: EscapeProbes.all.map { entry in
                    let outsideErrno = entry.name == "chroot_escape" ? chroot : (outside[entry.name] ?? -1)
                    let insideErrno = inside[entry.name] ?? -1
                    return EscapeProbe(name: entry.name, tries: entry.tries, outside: outsideErrno, outsideText: describe(outsideErrno),
                                       inside: insideErrno, insideText: describe(insideErrno), pastPermissionCounts: pastPermission.contains(entry.name))
                },
                seccomp: seccomp.rawValue, devices: restrictDevices ? "runc's default devices only" : "the host's device rules")
        }
        guard let evidence = result.value else { throw LabError(.failed, "the escape suite did not run") }
        return evidence
    }

    /// MAJOR and MINOR of the device the host's root file system is on.
    static func rootDevice() -> (UInt64, UInt64) {
        var root = stat()
        guard stat("/", &root) == 0 else { return (0, 0) }
        let device = UInt64(root.st_dev)
        return (((device >> 8) & 0xFFF) | ((device >> 32) & ~UInt64(0xFFF)), (device & 0xFF) | ((device >> 12) & ~UInt64(0xFF)))
    }

    static func describe(_ errno: Int32) -> String {
        errno == 0 ? "allowed" : (errno < 0 ? "not run" : Errno.describe(errno))
    }

    /// Runs the agent's escape workload with a pty of its own as stdin; the
    /// errno of each probe by name.
    static func probe(_ backend: any Backend, _ arguments: [String]) async throws -> [String: Int32] {
        let (master, slave) = try Descriptors.pseudoTerminal()
        defer {
            close(master)
            close(slave)
        }
        var request = InstanceRequest(.agent(arguments), timeout: 60)
        request.stdin = slave
        let outcome = try await InstanceRun.run(backend, request)
        var found: [String: Int32] = [:]
        for case .result(let json) in outcome.lines {
            if let result = try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)), result.unit == "errno" {
                found[result.metric] = Int32(result.value)
            }
        }
        guard !found.isEmpty else { throw LabError(.failed, "the escape probes reported nothing (\(backend.kind.rawValue)): \(outcome.tail())") }
        return found
    }

    /// The chroot escape in the sandbox it defeats: a plain chroot (no
    /// mount namespace, no pivot_root) into a scratch directory that holds
    /// the agent, on the host, as root.
    static func chrootControl(_ context: CheckContext, marker: String) async throws -> Int32 {
        let scratch = context.paths.run + "/escape-chroot-\(InstanceID.next())"
        try context.paths.ensure(.run)
        try FileSystem.makeDirectory(scratch, mode: 0o700)
        try FileSystem.makeDirectory(scratch + "/sbin", mode: 0o700)
        try FileSystem.makeDirectory(scratch + "/tmp", mode: 0o700)
        defer { try? FileSystem.removeTree(scratch) }
        try FileSystem.writeAtomically(scratch + "/sbin/isolab-agent", bytes: try FileSystem.readBytes(context.rootfs + "/sbin/isolab-agent"), mode: 0o755, durable: false)
        guard let chroot = HostCommand.which("chroot") ?? HostCommand.which("/usr/sbin/chroot") else {
            throw LabError(.unsupported, "chroot not found (coreutils)")
        }
        var backend = context.bare()
        backend.environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        let outcome = try await InstanceRun.run(
            backend, InstanceRequest(.command([chroot, scratch, "/sbin/isolab-agent", "run", "escape", "--only", "chroot_escape", "--marker", marker]), timeout: 60))
        for case .result(let json) in outcome.lines {
            if let result = try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)), result.metric == "chroot_escape" {
                return Int32(result.value)
            }
        }
        throw LabError(.failed, "the plain-chroot control reported nothing: \(outcome.tail())")
    }
}

/// The escape suite for the commands: the public face of `EscapeCheck`.
public enum EscapeSuite {
    public static func run(rootfs: String, seccomp: Seccomp.Profile = .default, restrictDevices: Bool = true,
                           paths: LabPaths = .fromEnvironment()) async throws -> EscapeEvidence {
        try await EscapeCheck.run(CheckContext(rootfs: rootfs, layout: try CgroupLayout.detectHost(), paths: paths),
                                  seccomp: seccomp, restrictDevices: restrictDevices)
    }

    /// probe | outside (expected: allowed) | inside (expected: refused) | verdict.
    public static func table(_ evidence: EscapeEvidence) -> String {
        var rows = [["probe", "on the host (expected: allowed)", "in the container (expected: refused)", "verdict"]]
        for probe in evidence.probes {
            let verdict = switch probe.status {
            case .refused: "refused"
            case .escaped: "ESCAPED"
            case .inconclusive: "inconclusive: not allowed on the host either"
            case .notRun: "not run: no result"
            }
            rows.append([probe.name, probe.outsideText, probe.insideText, verdict])
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
        text += "\(evidence.count(.refused)) refused inside and allowed on the host, \(evidence.count(.escaped)) escaped, "
            + "\(evidence.count(.inconclusive)) inconclusive" + (evidence.count(.notRun) > 0 ? ", \(evidence.count(.notRun)) without a result" : "")
            + " (seccomp \(evidence.seccomp); \(evidence.devices))\n"
        return text
    }
}
