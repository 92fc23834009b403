import Foundation
import LabWire
import LabCore
import LabModel

/// The `debian` base: a whole Debian 12 system, built with mmdebstrap from
/// the host's own apt sources, in two forms: `rootfs/` (the system
/// container's read-only lower layer) and, for VMs, an ext4 disk made
/// without a loop device (`mkfs.ext4 -d`, then qcow2) with the image's own
/// kernel and initrd beside it. See docs/full-os.md.
///
/// The downloaded packages and apt lists are kept in
/// `$ISOLAB_HOME/cache/debian/<key>`: a rebuild runs mmdebstrap with
/// `--skip=update` from them and makes no network request. mmdebstrap runs
/// in a private mount namespace (`unshare --mount`), so that the proc, sys
/// and dev mounts it makes in the tree can never outlive it on the host, and
/// an interrupted build leaves nothing behind but what gc removes.
struct DebianImage {
    /// Bumped when the same definition would give a different system.
    static let layoutVersion = 2
    static let suite = "bookworm"
    static let packages = ["systemd-sysv", "udev", "dbus", "linux-image-cloud-amd64", "initramfs-tools"]
    /// The disk's size as the guest sees it; the qcow2 file holds only what is written.
    static let diskSize = "1G"
    /// The same for every instance: a fixed id is not a first boot (an empty
    /// one would make systemd prompt on the console and preset every unit).
    static let machineID = "5e0b1a6c1f0a4d3f9c1e15014a1ab000"

    var store: ImageStore
    var agentPath: String
    var definition: ImageDefinition

    var cacheRoot: String { store.paths.path(.debianCache) }

    static let tools = [("mmdebstrap", "mmdebstrap"), ("mkfs.ext4", "e2fsprogs"), ("qemu-img", "qemu-utils"), ("unshare", "util-linux")]

    /// The host's apt sources, pasted into the image's (deb822 first).
    static func hostSources() throws -> String {
        for path in ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"] where FileSystem.exists(path) {
            return path
        }
        throw LabError(.notFound, "no apt sources on this host (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list): the debian image is built from them")
    }

    func build() throws -> ImageBuilder.Result {
        var tools: [String: String] = [:]
        for (tool, package) in Self.tools {
            guard let path = HostCommand.which(tool) else {
                throw LabError(.notFound, "image debian: \(tool) is not installed; apt-get install \(package) (scripts/setup-host does)")
            }
            tools[tool] = path
        }
        guard definition.agent else { throw LabError(.invalidInput, "image \(definition.name): a debian image always has the agent (agent: true)") }
        guard definition.binaries.isEmpty, definition.files.isEmpty else {
            throw LabError(.invalidInput, "image \(definition.name): base debian takes no binaries or files; it is a whole system (docs/full-os.md)")
        }
        guard FileSystem.exists(agentPath) else { throw LabError(.notFound, "agent: \(agentPath) not found") }
        let sources = try Self.hostSources()
        let script = Self.customizeScript()
        let fingerprint = try inputFingerprint(sources: sources, script: script)
        if let hex = FileSystem.readTextIfPresent(store.inputs + "/" + fingerprint)?.trimmingWhitespace(),
           FileSystem.exists(store.directory(ofDigestHex: hex) + "/manifest.json") {
            try store.tag(definition.name, digestHex: hex)
            return ImageBuilder.Result(record: try store.resolve(definition.name), cached: true)
        }

        try store.paths.ensure(.images)
        let scratch = try Scratch(store.root + "/.build-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-debian")
        defer { scratch.end() }
        let temporary = scratch.path
        let rootfs = temporary + "/rootfs"
        // The system itself comes from the base cache (mmdebstrap once per
        // package set and configuration); only the agent is added per build,
        // so a new agent costs a copy, not a new system.
        let base = try baseSystem(tools: tools, sources: sources, script: script)
        try Self.check(try HostCommand.run("/bin/cp", ["-a", "--reflink=auto", base + "/rootfs", rootfs], timeout: 300), "copy the base system")
        try Self.check(try HostCommand.run("/bin/cp", [base + "/packages.tsv", temporary + "/packages.tsv"], timeout: 30), "copy the package list")
        try Self.check(try HostCommand.run("/usr/bin/install", ["-m", "0755", agentPath, rootfs + "/usr/local/sbin/isolab-agent"], timeout: 30),
                       "install the agent")
        // After mmdebstrap, which empties it at its end (reproducible builds): an empty id is a first boot.
        try FileSystem.writeAtomically(rootfs + "/etc/machine-id", text: Self.machineID + "\n")
        chmod(rootfs + "/etc/machine-id", 0o444)

        // The kernel and initrd the VM boots: the image's own, as installed.
        let boot = FileSystem.list(rootfs + "/boot")
        guard let kernel = boot.filter({ $0.hasPrefix("vmlinuz-") }).sorted().last,
              let initrd = boot.filter({ $0.hasPrefix("initrd.img-") }).sorted().last else {
            throw LabError(.failed, "image debian: no kernel or initrd in /boot after mmdebstrap (found: \(boot.joined(separator: ", ")))")
        }
        for (source, target) in [(kernel, "vmlinuz"), (initrd, "initrd.img")] {
            try FileSystem.writeAtomically(temporary + "/" + target, bytes: try FileSystem.readBytes(rootfs + "/boot/" + source))
            chmod(temporary + "/" + target, 0o644)
        }
        let raw = temporary + "/disk.raw"
        try Self.check(try HostCommand.run(tools["mkfs.ext4"]!, ["-q", "-F", "-L", "root", "-d", rootfs, raw, Self.diskSize], timeout: 300), "mkfs.ext4 -d")
        try Self.check(try HostCommand.run(tools["qemu-img"]!, ["convert", "-O", "qcow2", raw, temporary + "/disk.qcow2"], timeout: 300), "qemu-img convert")
        unlink(raw)
        chmod(temporary + "/disk.qcow2", 0o644)

        let packages = try FileSystem.readText(temporary + "/packages.tsv").split(separator: "\n").compactMap { line -> ImageManifest.Package? in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return fields.count == 3 ? ImageManifest.Package(name: fields[0], version: fields[1], architecture: fields[2]) : nil
        }
        let (bytes, diskBytes) = Self.treeSize(rootfs)
        let agentHash = try FileSystem.readBytes(agentPath).sha256Hex
        let os = ImageManifest.OperatingSystem(
            distribution: "Debian 12 (\(Self.suite))", initSystem: "systemd", kernel: "vmlinuz", initrd: "initrd.img", disk: "disk.qcow2",
            kernelRelease: String(kernel.dropFirst("vmlinuz-".count)), diskBytes: FileSystem.fileSize(temporary + "/disk.qcow2") ?? 0,
            kernelBytes: FileSystem.fileSize(temporary + "/vmlinuz") ?? 0, packages: packages)
        let config = ImageManifest.Config(env: definition.env, workdir: definition.workdir, entrypoint: ["/sbin/init"])
        // The digest names what the system is: its packages and versions,
        // its configuration, the agent.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        struct Canonical: Codable { var config: ImageManifest.Config; var packages: [ImageManifest.Package]; var script: String; var agent: String }
        let hex = Array(try encoder.encode(Canonical(config: config, packages: packages, script: script, agent: agentHash))).sha256Hex
        let manifest = ImageManifest(
            schemaVersion: ImageManifest.currentSchemaVersion, name: definition.name, digest: "sha256:" + hex,
            created: ISO8601DateFormatter().string(from: Date()), base: ImageDefinition.Base.debian.rawValue,
            agentProtocolVersion: AgentProtocol.version, config: config, files: [], totalBytes: bytes,
            footprint: .init(rootfsBytes: bytes, rootfsDiskBytes: diskBytes, initramfsBytes: FileSystem.fileSize(temporary + "/initrd.img") ?? 0,
                             initramfsFile: "initrd.img"),
            os: os)
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileSystem.writeAtomically(temporary + "/manifest.json", bytes: Array(try encoder.encode(manifest)) + [10])
        let destination = store.directory(ofDigestHex: hex)
        if FileSystem.exists(destination + "/manifest.json") {
            // The same system was built before (its input fingerprint changed): keep the stored one.
        } else {
            if FileSystem.exists(destination) { _ = try? HostCommand.run("/bin/rm", ["-rf", "--one-file-system", destination], timeout: 120) }
            guard rename(temporary, destination) == 0 else { throw LabError.syscall("rename \(temporary) to \(destination)") }
            scratch.keep()
        }
        try store.paths.ensure(.imageInputs)
        try FileSystem.writeAtomically(store.inputs + "/" + fingerprint, text: hex + "\n")
        try store.tag(definition.name, digestHex: hex)
        return ImageBuilder.Result(record: try store.resolve(definition.name), cached: false)
    }

    /// The configured system without the agent, `<cache>/base-<key>/{rootfs,
    /// packages.tsv}`: built by mmdebstrap the first time (into a temporary
    /// directory renamed into place), found after.
    func baseSystem(tools: [String: String], sources: String, script: String) throws -> String {
        let cache = cacheRoot + "/" + packageCacheKey(sources)
        let key = Array(("base \(Self.layoutVersion)\n" + script + (FileSystem.readTextIfPresent(sources) ?? "")).utf8).sha256Hex.prefix(16)
        let base = cache + "/base-" + key
        if FileSystem.exists(base + "/packages.tsv") { return base }
        try store.paths.ensure(.debianCache)
        try FileSystem.makeDirectory(cache, mode: 0o755)
        // Bases of builds whose process is gone.
        for name in FileSystem.list(cache) where name.hasPrefix(".base-") {
            if let pid = Int32(name.dropFirst(".base-".count).prefix { $0 != "-" }), kill(pid, 0) != 0, errno == ESRCH {
                _ = try? HostCommand.run("/bin/rm", ["-rf", "--one-file-system", cache + "/" + name], timeout: 120)
            }
        }
        let scratch = try Scratch(cache + "/.base-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { scratch.end() }
        let temporary = scratch.path
        try FileSystem.writeAtomically(temporary + "/customize.sh", text: script)
        chmod(temporary + "/customize.sh", 0o755)
        try runMmdebstrap(tools: tools, sources: sources, rootfs: temporary + "/rootfs", temporary: temporary)
        unlink(temporary + "/customize.sh")
        if rename(temporary, base) != 0 {
            // Another build made the same base meanwhile: use it.
            guard FileSystem.exists(base + "/packages.tsv") else { throw LabError.syscall("rename \(temporary) to \(base)") }
        } else {
            scratch.keep()
        }
        return base
    }

    /// The package cache's key: the apt sources, the package set, the suite.
    func packageCacheKey(_ sources: String) -> String {
        String(Array(((FileSystem.readTextIfPresent(sources) ?? "") + Self.packages.joined(separator: ",") + Self.suite).utf8).sha256Hex.prefix(16))
    }

    /// mmdebstrap from the cache when it holds a complete earlier download,
    /// from the network otherwise (then filling the cache).
    func runMmdebstrap(tools: [String: String], sources: String, rootfs: String, temporary: String) throws {
        let cache = cacheRoot + "/" + packageCacheKey(sources)
        let (archives, lists) = (cache + "/archives", cache + "/lists")
        let offline = FileSystem.exists(cache + "/complete")
        try store.paths.ensure(.debianCache)
        try FileSystem.createDirectory(archives, mode: 0o755, parents: 0o755)
        try FileSystem.createDirectory(lists, mode: 0o755, parents: 0o755)
        var arguments = ["--mount", "--propagation", "private", tools["mmdebstrap"]!,
                         "--variant=minbase", "--include=" + Self.packages.joined(separator: ","),
                         "--dpkgopt=force-unsafe-io", "--skip=essential/unlink",
                         "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives \"$1\"/var/lib/apt/lists",
                         "--setup-hook=sync-in \(archives) /var/cache/apt/archives/"]
        if offline {
            arguments += ["--skip=update", "--setup-hook=sync-in \(lists) /var/lib/apt/lists/"]
        } else {
            arguments += ["--customize-hook=sync-out /var/cache/apt/archives \(archives)",
                          "--customize-hook=sync-out /var/lib/apt/lists \(lists)"]
        }
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        arguments += ["--customize-hook=" + quoted(temporary + "/customize.sh") + " \"$1\" " + quoted(temporary + "/packages.tsv"),
                      Self.suite, rootfs, sources]
        let output = try HostCommand.run(tools["unshare"]!, arguments, timeout: 1800)
        guard output.status == 0, !output.timedOut else {
            let said = (output.stderr + output.stdout).split(separator: "\n").filter { $0.contains("E:") || $0.contains("rror") }.suffix(3).joined(separator: " | ")
            let hint = offline ? "; the package cache may be stale: remove \(cache) to download again" : "; is the Debian archive reachable (apt-get update)?"
            throw LabError(.failed, "image debian: mmdebstrap \(output.timedOut ? "timed out after 30 min" : "failed (exit \(output.status))"): \(said.isEmpty ? String(output.stderr.suffix(300)) : said)\(hint)")
        }
        if !offline { try FileSystem.writeAtomically(cache + "/complete", text: "\(Self.packages.joined(separator: " "))\n") }
    }

    static func check(_ output: HostCommand.Output, _ step: String) throws {
        guard output.status == 0, !output.timedOut else {
            throw LabError(.failed, "image debian: \(step) failed (exit \(output.status)): \(output.stderr.trimmingWhitespace().suffix(300))")
        }
    }

    func inputFingerprint(sources: String, script: String) throws -> String {
        var text = "debian layout \(Self.layoutVersion)\n\(Self.suite) \(Self.packages.joined(separator: ","))\n"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var unnamed = definition
        unnamed.name = ""
        text += String(decoding: try encoder.encode(unnamed), as: UTF8.self) + "\n" + script + "\n"
        text += FileSystem.readTextIfPresent(sources) ?? ""
        var st = stat()
        guard stat(agentPath, &st) == 0 else { throw LabError.syscall("stat \(agentPath)") }
        text += "\(agentPath) \(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)\n"
        return Array(text.utf8).sha256Hex
    }

    /// The configuration of the system, as mmdebstrap's customize hook:
    /// `$1` the root, `$2` where the package list goes.
    static func customizeScript() -> String {
        let masked = ["systemd-firstboot.service", "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
                      "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer", "e2scrub_reap.service", "systemd-networkd-wait-online.service"]
        return """
            #!/bin/sh
            # isolab: the debian image's configuration (docs/full-os.md). $1 root, $2 package list.
            # The agent itself (/usr/local/sbin/isolab-agent) is added to a copy of this system per build.
            set -eu
            R="$1"
            echo isolab > "$R/etc/hostname"
            printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\tisolab\\n::1\\t\\tlocalhost ip6-localhost ip6-loopback\\n' > "$R/etc/hosts"
            # No "/" line: the VM's initramfs mounts the root rw (kernel argument rw); in a
            # container systemd-remount-fs would otherwise remount the image root.
            echo '# root: mounted by the initramfs (VM) or the lab (container)' > "$R/etc/fstab"
            mkdir -p -m 0755 "$R/var/lib/systemd/linger"
            : > "$R/etc/resolv.conf"
            ln -sf /usr/lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"
            for unit in \(masked.joined(separator: " ")); do ln -sf /dev/null "$R/etc/systemd/system/$unit"; done
            ln -sf /usr/local/sbin/isolab-agent "$R/sbin/isolab-agent"
            cat > "$R/etc/systemd/system/isolab-agent.service" <<'UNIT'
            [Unit]
            Description=isolab agent: READY once multi-user.target is reached, then the workloads
            After=multi-user.target

            [Service]
            Type=exec
            ExecStart=/usr/local/sbin/isolab-agent service
            StandardInput=null
            StandardOutput=tty
            StandardError=tty
            TTYPath=/dev/console

            [Install]
            WantedBy=multi-user.target
            UNIT
            mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
            ln -sf ../isolab-agent.service "$R/etc/systemd/system/multi-user.target.wants/isolab-agent.service"
            dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Package}\\t${Version}\\t${Architecture}\\n' > "$2"

            """
    }

    /// Apparent bytes of regular files, and allocated bytes, of a tree (no mount crossing).
    static func treeSize(_ root: String) -> (Int, Int) {
        var bytes = 0, allocated = 0
        var stack = [root]
        var rootStat = stat()
        guard lstat(root, &rootStat) == 0 else { return (0, 0) }
        while let directory = stack.popLast() {
            for name in FileSystem.list(directory) {
                let path = directory + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0, st.st_dev == rootStat.st_dev else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: stack.append(path)
                case S_IFREG:
                    bytes += Int(st.st_size)
                    allocated += Int(st.st_blocks) * 512
                default: break
                }
            }
        }
        return (bytes, allocated)
    }
}

/// A directory a build writes before renaming it into place: removed at the
/// end unless kept, and on Ctrl-C, with whatever the build started in it
/// killed first. Removed with `rm --one-file-system`: mmdebstrap's mounts
/// live in a namespace of their own, but a removal never crosses a mount.
final class Scratch: @unchecked Sendable {
    let path: String
    private var kept = false
    private let token: UInt64

    init(_ path: String) throws {
        self.path = path
        try FileSystem.makeDirectory(path, mode: 0o755)
        let remove = Self.remover(path)
        token = CleanupRegistry.shared.register {
            for pid in ProcessTree.processes(mentioning: path) { kill(pid, SIGKILL) }
            remove()
        }
    }

    /// It was renamed into place: nothing to remove.
    func keep() { kept = true }

    func end() {
        CleanupRegistry.shared.unregister(token)
        if !kept { Self.remover(path)() }
    }

    static func remover(_ path: String) -> @Sendable () -> Void {
        { _ = try? HostCommand.run("/bin/rm", ["-rf", "--one-file-system", path], timeout: 120) }
    }
}
