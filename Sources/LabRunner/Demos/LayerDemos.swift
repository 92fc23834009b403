import Foundation
import LabAnalysis
import LabWire
import LabContainer
import LabCore
import LabImage
import LabModel

/// overlayfs: a container's writable layer over read-only lower layers (a
/// file layer of the demo's own, then a real OCI image's three layers, the
/// built-in `layered`): the image's own whiteout hides a file of the layer
/// below, a write copies a lower file up whole, a delete leaves a whiteout,
/// the lower never changes, and two containers share the lower's inodes.
struct LayersDemo: Demo {
    let name = "layers"
    let title = "Layers: overlayfs copy-up, whiteouts, and a shared lower layer"
    let claim = ClaimCatalogue.statement("layers")
    let feature = "overlayfs (the container writes straight into the lower directory)"
    let needsVM = false

    static let bigMiB = 64

    func run(_ s: DemoSession) async throws {
        let base = s.context.paths.run + "/demo-layers-\(getpid())-\(InstanceID.next())"
        let lower = base + "/lower"
        var mounted: [String] = []
        let cleanup = { @Sendable [base] in
            for point in ["A", "B"].map({ base + "/merged" + $0 }) { _ = umount2(point, Int32(MNT_DETACH)) }
            try? FileSystem.removeTree(base)
        }
        let token = CleanupRegistry.shared.register(cleanup)
        defer { cleanup(); CleanupRegistry.shared.unregister(token) }
        try s.context.paths.ensure(.run)
        try FileSystem.makeDirectory(base, mode: 0o700)
        try FileSystem.makeDirectory(lower, mode: 0o755)
        // A file worth copying (not sparse: the copy-up must move its bytes), and one to delete.
        let big = lower + "/big.bin"
        try Self.writePattern(big, mib: Self.bigMiB)
        try FileSystem.writeAtomically(lower + "/notes.txt", text: "a file of the lower layer\n")
        let digestBefore = try Self.digest(lower)
        // A real OCI image: its layers unpacked once in the store, the top one first.
        let builder = ImageBuilder(store: ImageStore(paths: s.context.paths), agentPath: try ImageBuilder.defaultAgentPath())
        guard let image = try BuiltinOCI.build("layered", builder: builder), let layers = image.lowerDirectories, let oci = image.manifest.oci else {
            throw LabError(.failed, "the built-in layered OCI image could not be made")
        }
        let layerPaths = layers.map { FileSystem.realPath($0) ?? $0 }

        func layer(_ name: String) throws -> String {
            let merged = base + "/merged" + name
            for directory in ["/upper", "/work", "/merged"] { try FileSystem.makeDirectory(base + directory + name, mode: 0o755) }
            if s.without { return lower }
            let options = "lowerdir=\(lower):\(layers.joined(separator: ":")),upperdir=\(base)/upper\(name),workdir=\(base)/work\(name)"
            guard mount("overlay", merged, "overlay", 0, options) == 0 else { throw LabError.syscall("mount overlay on \(merged) (\(options))") }
            mounted.append(merged)
            return merged
        }
        let viewA = try layer("A"), viewB = try layer("B")
        let sizes = oci.layers.map { "\(ByteSize.format(UInt64($0.blob.size))) gzip → \(ByteSize.format(UInt64($0.unpackedBytes)))" }
        s.step("Stack the layers: the demo's lower directory (a \(Self.bigMiB) MiB big.bin, notes.txt) over the OCI image layered's \(oci.layers.count) layers, read-only, under an empty upper directory per container",
               command: "isolab image inspect layered; mount -t overlay overlay -o lowerdir=lower:L3:L2:L1,upperdir=upperA,workdir=workA mergedA (and B)",
               expect: "the merged view shows every layer's files; each layer is unpacked once in the store",
               inside: s.without ? "no overlay: the lower directory itself" : "\(FileSystem.list(viewA).count) entries in mergedA (bin, etc, srv, big.bin, notes.txt, ...)",
               host: "layers, base first: " + sizes.joined(separator: "; ") + "; upper A: \(FileSystem.list(base + "/upperA").count) files",
               passed: !s.without && FileSystem.exists(viewA + "/bin/busybox"))

        // The image's own whiteout: its top layer removes /srv/data/a, which the layer below holds.
        var st = stat()
        let below = layerPaths.count > 1 && FileSystem.exists(layerPaths[1] + "/srv/data/a")
        let whited = lstat(layerPaths[0] + "/srv/data/a", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0
        let listed = try await s.ask(Self.withVolume(try s.container(), source: viewA), #"echo "list=$(ls /data/srv/data | tr '\n' ' ')""#)
        let names = (listed["list"] ?? "").split(separator: " ").map(String.init)
        s.step("The image's top layer removes /srv/data/a: in the layer itself, a whiteout (the tar's .wh.a, unpacked as a 0:0 character device)",
               command: "ls /data/srv/data (inside); stat -c '%F %t:%T' L3/srv/data/a; ls L2/srv/data (host)",
               expect: "a file of the middle layer, hidden by the top one: gone from the view, still on disk below",
               inside: s.without ? "no overlay" : "/srv/data: \(names.joined(separator: " "))",
               host: "L2 holds srv/data/a: \(below ? "yes" : "no"); L3's srv/data/a: \(whited ? "a whiteout (char 0:0)" : "no whiteout")",
               passed: !s.without && below && whited && !names.contains("a") && names.contains("b"))

        // Container A: two appends to big.bin, each timed by the agent; delete notes.txt; the inode of busybox.
        var spec = try s.container()
        spec = Self.withVolume(spec, source: viewA)
        let append = try await InstanceRun.run(spec, InstanceRequest(.agent(["append", "--path", "/data/big.bin", "--count", "2"]), timeout: 60))
        let times = append.lines.compactMap { line -> Double? in
            if case .result(let json) = line, let r = try? JSONDecoder().decode(AgentResult.self, from: Data(json.utf8)), r.metric == "append" { return r.value }
            return nil
        }
        let upperBig = base + "/upperA/big.bin"
        let upperSize = stat(upperBig, &st) == 0 ? Int(st.st_size) : -1
        s.evidence["append.first_us"] = times.first.map { String(format: "%.0f", $0) } ?? "?"
        s.evidence["append.second_us"] = times.count > 1 ? String(format: "%.0f", times[1]) : "?"
        s.chart = DemoChart(title: "Appending one byte to a \(Self.bigMiB) MiB file of the lower layer", unit: "µs",
                            bars: times.enumerated().map { .init(label: $0.offset == 0 ? "first write (copy-up)" : "second write", value: $0.element) })
        s.step("In container A, append one byte to /data/big.bin twice, timing each write",
               command: "isolab-agent run append --path /data/big.bin --count 2",
               expect: "the first write copies the \(Self.bigMiB) MiB file up whole: far slower than the second",
               inside: times.count == 2 ? String(format: "first %.0f µs, second %.0f µs", times[0], times[1]) : "\(append.exit.text)",
               host: "upper A holds big.bin: \(upperSize >= 0 ? ByteSize.format(UInt64(upperSize)) : "no")",
               passed: times.count == 2 && times[0] > 5 * times[1] && upperSize == (Self.bigMiB << 20) + 2)
        let removed = try await InstanceRun.run(Self.withVolume(try s.container(), source: viewA),
                                                s.shell("rm /data/notes.txt && echo removed=yes; ls /data/notes.txt 2>/dev/null || echo gone=yes"))
        let whiteout = base + "/upperA/notes.txt"
        let isWhiteout = stat(whiteout, &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0
        let r = keyValues(removed.output)
        s.step("In container A, delete notes.txt, a file of the lower layer",
               command: "rm /data/notes.txt (inside); stat -c '%F %t:%T' upperA/notes.txt (host)",
               expect: "gone from A's view; a whiteout (a 0:0 character device) in A's upper layer; the lower keeps the file",
               inside: r["removed"] == "yes" && r["gone"] == "yes" ? "deleted, gone from the view" : removed.output.trimmingWhitespace(),
               host: isWhiteout ? "upper A: notes.txt is a whiteout (char 0:0); lower: \(FileSystem.exists(lower + "/notes.txt") ? "still there" : "gone")"
                   : "no whiteout in upper A",
               passed: isWhiteout && FileSystem.exists(lower + "/notes.txt"))
        let digestAfter = try Self.digest(lower)
        s.evidence["lower.digest.before"] = String(digestBefore.prefix(16))
        s.evidence["lower.digest.after"] = String(digestAfter.prefix(16))
        s.step("Hash the lower layer again",
               command: "sha256sum lower/*",
               expect: "the same digest: containers never write to an image",
               inside: "-", host: "before \(digestBefore.prefix(16))…, after \(digestAfter.prefix(16))…",
               passed: digestBefore == digestAfter)
        // Two containers, one lower file: the same inode in both.
        let inode = #"echo "inode=$(stat -c %i /data/bin/busybox)""#
        let a = try await s.ask(Self.withVolume(try s.container(), source: viewA), inode)
        let b = try await s.ask(Self.withVolume(try s.container(), source: viewB), inode)
        var lowerStat = stat()
        let lowerInode = stat(layerPaths[layerPaths.count - 1] + "/bin/busybox", &lowerStat) == 0 ? String(lowerStat.st_ino) : "?"
        s.evidence["inode.A"] = a["inode"] ?? "?"
        s.evidence["inode.B"] = b["inode"] ?? "?"
        s.step("Containers A and B, each over its own upper layer, look up /data/bin/busybox (a file of the image)",
               command: "stat -c %i /data/bin/busybox (in A and in B)",
               expect: "one inode, the image's base layer's: one file on disk and in the page cache for both",
               inside: "A: \(a["inode"] ?? "?"), B: \(b["inode"] ?? "?")", host: "the image's busybox: \(lowerInode)",
               passed: a["inode"] != nil && a["inode"] == b["inode"] && a["inode"] == lowerInode)
        s.control("The same write made directly in the lower directory (no overlay): what a container without layers would do",
                  command: "echo >> lower/big.bin",
                  expect: "the lower layer's digest changes",
                  inside: "-", host: try Self.controlChangesDigest(base: base) ? "the digest changed" : "the digest did not change",
                  sawHost: try Self.controlChangesDigest(base: base))
    }

    static func withVolume(_ backend: ContainerBackend, source: String) -> ContainerBackend {
        var copy = backend
        copy.template.volumes = [ContainerSpec.Volume(source: source, target: "/data")]
        return copy
    }

    /// `mib` MiB of a repeating, non-zero pattern.
    static func writePattern(_ path: String, mib: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LabError.syscall("create \(path)") }
        defer { close(fd) }
        let chunk = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        for _ in 0..<mib { try FileSystem.writeAll(fd, chunk, path: path) }
    }

    /// SHA-256 over the directory's files, by name.
    static func digest(_ directory: String) throws -> String {
        var bytes: [UInt8] = []
        for name in FileSystem.list(directory).sorted() {
            bytes += Array(name.utf8) + [0] + SHA256.hash(try FileSystem.readBytes(directory + "/" + name))
        }
        return SHA256.hash(bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// A scratch copy of a lower file written in place: its digest changes.
    static func controlChangesDigest(base: String) throws -> Bool {
        let scratch = base + "/control"
        try FileSystem.makeDirectory(scratch, mode: 0o700)
        try FileSystem.writeAtomically(scratch + "/file", text: "lower\n")
        let before = try digest(scratch)
        let fd = open(scratch + "/file", O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open \(scratch)/file") }
        try FileSystem.writeAll(fd, [0x0A], path: scratch + "/file")
        close(fd)
        return try digest(scratch) != before
    }
}

/// User namespaces: root inside is an unprivileged uid outside.
struct UserNamespaceDemo: Demo {
    let name = "userns"
    let title = "User namespace: root inside, nobody special outside"
    let claim = ClaimCatalogue.statement("userns")
    let feature = "the user namespace (root inside is root outside)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let userns = !s.without
        let script = #"echo "uid=$(id -u)"; touch /tmp/made-inside && echo made=yes; v=$(cat /proc/sys/kernel/pid_max); (echo $v > /proc/sys/kernel/pid_max) 2>/dev/null && echo sysctl=changed || echo sysctl=refused; sleep 0.3"#
        let seen = Carried<[String: String]>([:])
        let inside = keyValues(try await InstanceRun.run(try s.container(userNamespace: userns), s.shell(script), endAfterDuring: false) { instance in
            let container = try Probed(instance, for: "the user-namespace demo")
            let root = "/proc/\(container.pid)/root"
            for _ in 0..<200 where !FileSystem.exists(root + "/tmp/made-inside") { try await Task.sleep(nanoseconds: 10_000_000) }
            var st = stat()
            let owner = stat(root + "/tmp/made-inside", &st) == 0 ? String(st.st_uid) : "?"
            let status = FileSystem.readTextIfPresent("/proc/\(container.pid)/status") ?? ""
            let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.map(String.init) ?? "?"
            seen.value = ["owner": owner, "uid": uid]
        }.output)
        let expected = String(Container.userNamespaceRoot)
        s.evidence["inside.uid"] = inside["uid"] ?? "?"
        s.evidence["host.uid"] = seen.value["uid"] ?? "?"
        s.step("Start a container with a user namespace (uid 0-65535 inside = \(expected)-\(Int(expected)! + 65535) outside); ask who it is, and ask the host",
               command: "id -u (inside); grep Uid /proc/HOSTPID/status (host)",
               expect: "0 inside, \(expected) outside",
               inside: inside["uid"] ?? "?", host: seen.value["uid"] ?? "?",
               passed: inside["uid"] == "0" && seen.value["uid"] == expected)
        s.step("Make a file inside; look at its owner from the host",
               command: "touch /tmp/made-inside (inside); stat -c %u /proc/HOSTPID/root/tmp/made-inside (host)",
               expect: "owned by \(expected) on the host",
               inside: inside["made"] == "yes" ? "made by uid 0" : "not made", host: "owner \(seen.value["owner"] ?? "?")",
               passed: seen.value["owner"] == expected)
        let pidMax = (FileSystem.readTextIfPresent("/proc/sys/kernel/pid_max") ?? "?").trimmingWhitespace()
        s.step("Try to write a host sysctl (kernel.pid_max, its own value back: harmless even if it were let through)",
               command: "echo $(cat /proc/sys/kernel/pid_max) > /proc/sys/kernel/pid_max",
               expect: "refused (/proc/sys is read-only in every container of the lab; root in a user namespace has no power over the host's kernel either)",
               inside: inside["sysctl"] ?? "?", host: "kernel.pid_max = \(pidMax)", passed: inside["sysctl"] == "refused")
        let control = try await s.ask(try s.container(userNamespace: false), #"echo "uid=$(id -u)"; sleep 0.3"#)
        s.control("The same container without a user namespace", command: "id -u; grep Uid /proc/HOSTPID/status",
                  expect: "root inside is root (uid 0) on the host", inside: control["uid"] ?? "?", host: "uid 0",
                  sawHost: control["uid"] == "0")
    }
}

/// Escapes: the classic chroot escape works in a chroot and fails in the
/// lab's container; mknod of the host's disk and a seccomp-refused call fail.
struct EscapeDemo: Demo {
    let name = "escape"
    let title = "Escapes: a chroot is not a container"
    let claim = ClaimCatalogue.statement("escape")
    let feature = "the container (a plain chroot stands in for it)"
    let needsVM = false

    func run(_ s: DemoSession) async throws {
        let marker = s.context.paths.run + "/escape-marker-\(getpid())"
        try FileSystem.writeAtomically(marker, text: "the host\n")
        defer { unlink(marker) }
        let chroot = try await EscapeCheck.chrootControl(s.context, marker: marker)
        s.evidence["chroot.escape"] = chroot == 0 ? "reached the host" : EscapeCheck.describe(chroot)
        s.control("First, the classic escape in a plain chroot of the image, as root: mkdir x; chroot x; cd ../../..; chroot .; look for a host file",
                  command: "chroot IMAGE sh -c 'mkdir x; chroot x; cd ../../..; chroot .; cat \(marker)'",
                  expect: "it reaches the host's root: a chroot moves / but is no wall",
                  inside: chroot == 0 ? "found \(marker)" : EscapeCheck.describe(chroot), host: "\(marker) exists",
                  sawHost: chroot == 0)
        func probe(_ only: String, seccomp: Seccomp.Profile = .default, extra: [String] = []) async throws -> Int32? {
            let backend: any Backend = s.without ? s.context.bare() : try s.container(seccomp: seccomp)
            return try await EscapeCheck.probe(backend, ["escape", "--only", only, "--marker", marker] + extra)[only]
        }
        // The same escape in the lab's container (or, without it, as the chroot again).
        let inContainer: Int32?
        if s.without {
            inContainer = try await EscapeCheck.chrootControl(s.context, marker: marker)
        } else {
            inContainer = try await probe("chroot_escape")
        }
        s.evidence["container.escape"] = inContainer.map { $0 == 0 ? "reached the host" : EscapeCheck.describe($0) } ?? "?"
        s.step("The same escape in the lab's container (pivot_root, the old root detached)",
               command: "isolab-agent run escape --only chroot_escape",
               expect: "refused: above the container's root there is nothing of the host's",
               inside: inContainer.map { $0 == 0 ? "found \(marker)" : EscapeCheck.describe($0) } ?? "?", host: "\(marker) exists",
               passed: inContainer != nil && inContainer != 0)
        let (major, minor) = EscapeCheck.rootDevice()
        let mknod = s.without ? nil : try await probe("mknod_host_disk", extra: ["--dev", "\(major):\(minor)"])
        s.evidence["mknod"] = mknod.map(EscapeCheck.describe) ?? "not run"
        s.step("In the container, make a node for the host's root disk (\(major):\(minor)) and read one block",
               command: "mknod /tmp/disk b \(major) \(minor); dd if=/tmp/disk bs=512 count=1",
               expect: "the node can be made, but opening it is refused by the device rules",
               inside: mknod.map(EscapeCheck.describe) ?? "no container", host: "the device rules allow only null, zero, full, random, urandom, tty, console, pts",
               passed: mknod != nil && mknod != 0)
        let confined = s.without ? nil : try await probe("keyctl")
        let unconfined = s.without ? nil : try await probe("keyctl", seccomp: .unconfined)
        s.evidence["keyctl.default"] = confined.map(EscapeCheck.describe) ?? "not run"
        s.evidence["keyctl.unconfined"] = unconfined.map(EscapeCheck.describe) ?? "not run"
        s.step("Call keyctl (the kernel's keyrings), which capabilities alone allow, with and without the seccomp filter",
               command: "keyctl(KEYCTL_GET_KEYRING_ID, ...) (isolab container run --seccomp default|unconfined)",
               expect: "refused by the filter (EPERM); let through without it",
               inside: "default: \(confined.map(EscapeCheck.describe) ?? "?"); unconfined: \(unconfined.map(EscapeCheck.describe) ?? "?")",
               host: "-", passed: confined == EPERM && unconfined == 0)
    }
}
