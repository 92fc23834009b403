import CLabHost
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// Whether QEMU's user reaches every file of the lab's that QEMU opens (the
/// guest kernel, the images' initramfs and disks, the initrd cache, the
/// guests' directory and console sockets), asked as that user by a child
/// that takes its uid and groups, and whether other users are kept out of
/// the state directory. It only looks: it changes nothing. A path that is
/// not reachable names the directory that blocks it.
public enum QEMUAccess {
    /// One file or directory QEMU opens, and how.
    public struct Target: Sendable, Equatable {
        public enum Need: Int32, Sendable, Codable { case read = 4, write = 2, search = 1 }
        public var path: String
        public var what: String
        public var need: Need

        public init(path: String, what: String, need: Need) {
            self.path = path
            self.what = what
            self.need = need
        }
    }

    /// One target's answer.
    public struct Finding: Sendable, Codable, Equatable {
        public var path: String
        public var what: String
        public var reachable: Bool
        /// The errno of the access, in words.
        public var error: String?
        /// The first directory on the way QEMU's user cannot search, with its mode and owner.
        public var blockedAt: String?
        public var blockedMode: String?
    }

    public struct Report: Sendable, Codable, Equatable {
        /// QEMU's user (nil: the host has none: no libvirt).
        public var user: String?
        public var stateDirectory: String
        public var findings: [Finding]
        /// Whether an unprivileged user (`nobody`) is kept out of the state directory (nil: not asked).
        public var closedToOthers: Bool?
        /// Why the check could not run.
        public var error: String?

        public var reachable: Bool { user != nil && error == nil && findings.allSatisfy(\.reachable) }

        /// One line: what was found.
        public var found: String {
            guard let user else { return error ?? "no QEMU user on this host (libvirt is not installed)" }
            if let error { return "could not ask as \(user): \(error)" }
            if let problem = findings.first(where: { !$0.reachable }) {
                let blocked = problem.blockedAt.map { ": blocked at \($0) (\(problem.blockedMode ?? "?"))" } ?? ": \(problem.error ?? "refused")"
                let more = findings.filter { !$0.reachable }.count - 1
                return "QEMU's user \(user) cannot reach \(problem.what) \(problem.path)\(blocked)" + (more > 0 ? "; and \(more) more" : "")
            }
            let kinds = Dictionary(grouping: findings, by: \.what).keys.sorted().joined(separator: ", ")
            let others = closedToOthers.map { $0 ? "; other users cannot enter \(stateDirectory)" : "; OTHER USERS CAN ENTER \(stateDirectory)" } ?? ""
            return "QEMU's user \(user) reaches \(findings.count) path(s): \(kinds)\(others)"
        }

        /// How to make it reachable: within the state tree a state-writing
        /// command repairs it; above it only the owner of the home can.
        public var fix: String? {
            guard let user else { return "apt-get install libvirt-daemon-system (scripts/setup-host does)" }
            guard let problem = findings.first(where: { !$0.reachable }) else {
                return closedToOthers == false ? "run isolab gc: it closes \(stateDirectory) to other users" : nil
            }
            guard let blocked = problem.blockedAt else {
                return "make \(problem.path) readable by \(user) (isolab gc repairs the lab's own files)"
            }
            if blocked.hasPrefix(stateDirectory + "/") || blocked == stateDirectory {
                return "run isolab gc (or any command that writes state): it gives the lab's directories the passage QEMU needs"
            }
            return "\(blocked) is above ISOLAB_HOME and the lab does not change it: chmod o+x \(blocked), "
                + "or set ISOLAB_HOME to a directory QEMU's user can reach (the default /var/lib/isolab)"
        }
    }

    /// What QEMU opens, as far as it exists now: the state directory, where
    /// each guest's directory is made, the kernel (`kernel`, or the one
    /// `scripts/setup-host` extracted), every image file a guest boots from,
    /// the initrd cache and the directories and sockets of running guests.
    public static func targets(paths: LabPaths, kernel: String? = nil) -> [Target] {
        var targets = [Target(path: paths.stateDirectory, what: "the state directory", need: .search)]
        // Where each guest's directory will be made: the deepest that exists.
        if let made = [LabDirectory.vms, .run].map(paths.path).first(where: FileSystem.isDirectory) {
            targets.append(Target(path: made, what: "the guests' directory", need: .search))
        }
        let guestKernel = kernel ?? paths.kernels + "/vmlinuz"
        if FileSystem.exists(guestKernel) { targets.append(Target(path: guestKernel, what: "the guest kernel", need: .read)) }
        let images = paths.path(.images)
        for entry in FileSystem.subdirectories(images) where !entry.hasPrefix(".") {
            for file in FileSystem.list(images + "/" + entry) where file.hasPrefix("initramfs") || file.hasSuffix(".qcow2") || file.hasPrefix("vmlinuz") {
                targets.append(Target(path: images + "/" + entry + "/" + file, what: "image files", need: .read))
            }
        }
        let initrds = paths.path(.initrdCache)
        for file in FileSystem.list(initrds) where file.hasSuffix(".cpio") {
            targets.append(Target(path: initrds + "/" + file, what: "cached initrds", need: .read))
        }
        let vms = paths.path(.vms)
        for guest in FileSystem.subdirectories(vms) {
            targets.append(Target(path: vms + "/" + guest, what: "running guests' directories", need: .search))
            if FileSystem.exists(vms + "/" + guest + "/console.sock") {
                targets.append(Target(path: vms + "/" + guest + "/console.sock", what: "running guests' console sockets", need: .write))
            }
        }
        return targets
    }

    /// Asks, as QEMU's user, for each target.
    public static func check(paths: LabPaths, kernel: String? = nil, qemu: QEMUUser.Identity? = QEMUUser.lookup()) -> Report {
        var report = Report(user: qemu?.name, stateDirectory: paths.stateDirectory, findings: [])
        guard let qemu else { return report }
        let targets = targets(paths: paths, kernel: kernel)
        do {
            let answers = try ask(uid: qemu.uid, gid: qemu.gid, groups: groups(of: qemu), targets: targets)
            report.findings = zip(targets, answers).map { target, answer in
                var finding = Finding(path: target.path, what: target.what, reachable: answer.error == 0)
                if answer.error != 0 { finding.error = Errno.describe(answer.error) }
                // A directory QEMU must search blocks its own way when no ancestor does.
                let blockedLength = answer.blocked_at > 0 ? Int(answer.blocked_at) : (answer.error != 0 && target.need == .search ? target.path.utf8.count : 0)
                if blockedLength > 0 {
                    let blocked = String(decoding: Array(target.path.utf8).prefix(blockedLength), as: UTF8.self)
                    finding.blockedAt = blocked
                    var st = stat()
                    if stat(blocked, &st) == 0 {
                        finding.blockedMode = "mode 0\(String(st.st_mode & 0o7777, radix: 8)) \(LabPaths.userName(st.st_uid)):\(LabPaths.groupName(st.st_gid))"
                    }
                }
                return finding
            }
            // Nobody else: an unprivileged user must not enter the state directory.
            if let nobody = getpwnam("nobody")?.pointee, nobody.pw_uid != qemu.uid {
                let answer = try ask(uid: nobody.pw_uid, gid: nobody.pw_gid, groups: [nobody.pw_gid],
                                     targets: [Target(path: paths.stateDirectory, what: "", need: .search)])
                report.closedToOthers = answer.first.map { $0.error != 0 }
            }
        } catch {
            report.error = "\(error)"
        }
        return report
    }

    /// Throws the doctor's message when QEMU's user cannot reach what a guest needs.
    public static func require(paths: LabPaths, kernel: String? = nil) throws {
        let report = check(paths: paths, kernel: kernel)
        // No QEMU user: libvirt is missing, which the connection reports in its own words.
        guard report.user != nil, !report.reachable else { return }
        throw LabError(.failed, "a guest cannot start: \(report.found); \(report.fix ?? "")")
    }

    static func ask(uid: uid_t, gid: gid_t, groups: [gid_t], targets: [Target]) throws -> [lab_access_answer] {
        guard !targets.isEmpty else { return [] }
        var answers = [lab_access_answer](repeating: lab_access_answer(error: 0, blocked_at: -1), count: targets.count)
        let strings = targets.map { strdup($0.path) }
        defer { strings.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = strings.map { UnsafePointer($0) }
        let modes = targets.map { Int32($0.need.rawValue) }
        let groups = groups.map { UInt32($0) }
        let err = lab_access_as(uid, gid, groups, Int32(groups.count), pointers, modes, Int32(targets.count), &answers)
        guard err == 0 else { throw LabError.syscall("ask as uid \(uid) whether it reaches the lab's files", errno: err) }
        return answers
    }

    /// QEMU's user's groups, as libvirt gives them to QEMU (its supplementary groups).
    static func groups(of qemu: QEMUUser.Identity) -> [gid_t] {
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(qemu.name, qemu.gid, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(qemu.name, qemu.gid, &list, &count)
        }
        return Array(list.prefix(Int(max(count, 0)))) + [qemu.gid]
    }
}
