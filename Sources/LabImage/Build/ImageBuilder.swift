import Foundation
import LabWire
import LabCore
import LabModel

/// Builds an image definition into the store: one file tree, two forms
/// (`rootfs/` for containers, `initramfs.cpio` for VMs), content-addressed.
public struct ImageBuilder: Sendable {
    /// Bumped when the builder would lay out the same definition differently.
    static let layoutVersion = 2

    public var store: ImageStore
    /// The agent binary to include (`isolab-agent`, beside `isolab`).
    public var agentPath: String
    public var busyboxPath: String
    /// The library search path; nil: the host's, read from ld.so.conf when a
    /// definition first copies a binary (not on every cached build).
    public var libraries: LibraryClosure?

    public init(store: ImageStore, agentPath: String, busyboxPath: String = "/bin/busybox",
                libraries: LibraryClosure? = nil) {
        self.store = store
        self.agentPath = agentPath
        self.busyboxPath = busyboxPath
        self.libraries = libraries
    }

    private var hostLibraries: LibraryClosure { .host() }

    /// The agent beside the running executable, or `$ISOLAB_AGENT`.
    public static func defaultAgentPath() throws -> String {
        if let override = ProcessInfo.processInfo.environment["ISOLAB_AGENT"], !override.isEmpty {
            guard FileSystem.exists(override) else { throw LabError(.notFound, "ISOLAB_AGENT=\(override) does not exist") }
            return override
        }
        let executable = FileSystem.readLink("/proc/self/exe") ?? CommandLine.arguments[0]
        let directory = executable.lastIndex(of: "/").map { String(executable[..<$0]) } ?? "."
        let beside = directory + "/isolab-agent"
        guard FileSystem.exists(beside) else {
            throw LabError(.notFound, "isolab-agent not found beside \(executable); build it (swift build) or set ISOLAB_AGENT")
        }
        return beside
    }

    public struct Result: Sendable {
        public var record: ImageStore.Record
        /// Nothing was built: the store already held this image.
        public var cached: Bool
        /// What the user should know (a host file others cannot read, kept so).
        public var warnings: [String] = []
    }

    /// Builds `definition` (or finds it in the store) and tags it with its name.
    public func build(_ definition: ImageDefinition) throws -> Result {
        if definition.base == .debian {
            return try DebianImage(store: store, agentPath: agentPath, definition: definition).build()
        }
        var sources = try resolveSources(definition)
        let fingerprint = try inputFingerprint(definition, sources)
        if let hex = FileSystem.readTextIfPresent(store.inputs + "/" + fingerprint)?.trimmingWhitespace(),
           FileSystem.exists(store.directory(ofDigestHex: hex) + "/manifest.json") {
            try store.tag(definition.name, digestHex: hex)
            return Result(record: try store.resolve(definition.name), cached: true)
        }

        if let busybox = sources.busybox {
            // The host's own, static busybox lists its applets; it is trusted as the
            // lab's own tooling is. Only on a build: the list is a function of the
            // binary, whose identity is in the fingerprint, and running it costs
            // ~10 ms that a cached image (every `isolab container run`) need not pay.
            let output = try HostCommand.run(busybox, ["--list-full"], timeout: 10)
            sources.applets = output.stdout.split(separator: "\n").map { String($0).trimmingWhitespace() }
                .filter { !$0.isEmpty && $0 != "bin/busybox" }
        }
        let plan = try makePlan(definition, sources)
        var contents: [String: [UInt8]] = [:]
        var files: [ImageManifest.File] = []
        var totalBytes = 0
        for entry in plan.sorted {
            let mode = "0" + String(entry.mode, radix: 8)
            switch entry.kind {
            case .directory:
                files.append(.init(path: "/" + entry.path, type: .directory, mode: mode))
            case .symlink(let target):
                files.append(.init(path: "/" + entry.path, type: .symlink, mode: "0777", target: target))
            case .file(let content):
                let bytes: [UInt8]
                switch content {
                case .bytes(let inline): bytes = inline
                case .host(let path): bytes = try FileSystem.readBytes(path)
                }
                contents[entry.path] = bytes
                totalBytes += bytes.count
                files.append(.init(path: "/" + entry.path, type: .file, mode: mode, size: bytes.count, sha256: bytes.sha256Hex,
                                   uid: entry.uid == 0 ? nil : entry.uid, gid: entry.gid == 0 ? nil : entry.gid))
            }
        }
        let config = ImageManifest.Config(
            env: definition.env, workdir: definition.workdir,
            entrypoint: definition.entrypoint ?? (definition.agent ? ["/sbin/isolab-agent"] : ["/bin/sh"]))
        let initramfsFile = definition.gzip ? "initramfs.cpio.gz" : "initramfs.cpio"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let canonical = try encoder.encode(ImageManifest.Canonical(config: config, files: files, initramfs: initramfsFile))
        let hex = Array(canonical).sha256Hex

        if !FileSystem.exists(store.directory(ofDigestHex: hex) + "/manifest.json") {
            try write(plan: plan, contents: contents, hex: hex, manifest: { initramfsBytes, diskBytes in
                ImageManifest(
                    schemaVersion: ImageManifest.currentSchemaVersion, name: definition.name, digest: "sha256:" + hex,
                    created: ISO8601DateFormatter().string(from: Date()), base: definition.base.rawValue,
                    agentProtocolVersion: definition.agent ? AgentProtocol.version : nil, config: config, files: files,
                    totalBytes: totalBytes,
                    footprint: .init(rootfsBytes: totalBytes, rootfsDiskBytes: diskBytes, initramfsBytes: initramfsBytes,
                                     initramfsFile: initramfsFile))
            }, gzip: definition.gzip)
        }
        try store.paths.ensure(.imageInputs)
        try FileSystem.writeAtomically(store.inputs + "/" + fingerprint, text: hex + "\n")
        try store.tag(definition.name, digestHex: hex)
        return Result(record: try store.resolve(definition.name), cached: false, warnings: plan.sorted.compactMap { entry in
            guard entry.fromUser, case .file(.host(let source)) = entry.kind, entry.mode & 0o004 == 0 else { return nil }
            return "\(entry.origin): \(source) is not readable by others on the host (mode 0\(String(entry.mode, radix: 8))): /\(entry.path) keeps that mode and owner in the image"
        })
    }

    /// Host files the definition draws on, checked before anything is written.
    struct Sources {
        var busybox: String?
        var applets: [String] = []
        var agent: String?
        /// Per `binaries[i]`: the executable and its library closure.
        var closures: [[LibraryClosure.File]] = []
    }

    func resolveSources(_ definition: ImageDefinition) throws -> Sources {
        var sources = Sources()
        if definition.base == .busybox {
            guard FileSystem.exists(busyboxPath) else {
                throw LabError(.notFound, "base busybox: \(busyboxPath) not found; apt-get install busybox-static (scripts/setup-host does)")
            }
            guard try ElfFile(path: busyboxPath).isStatic else {
                throw LabError(.invalidInput, "base busybox: \(busyboxPath) is dynamically linked; apt-get install busybox-static")
            }
            sources.busybox = busyboxPath
        }
        if definition.agent {
            guard FileSystem.exists(agentPath) else { throw LabError(.notFound, "agent: \(agentPath) not found") }
            sources.agent = agentPath
        }
        for (index, binary) in definition.binaries.enumerated() {
            guard binary.hasPrefix("/") else {
                throw LabError(.invalidInput, "binaries[\(index)]: '\(binary)' must be an absolute host path")
            }
            do {
                sources.closures.append(try (libraries ?? hostLibraries).resolve(binary))
            } catch let error as LabError {
                throw LabError(.invalidInput, "binaries[\(index)]: \(error.message)")
            }
        }
        for (index, file) in definition.files.enumerated() {
            if let source = file.source {
                guard FileSystem.exists(source), !FileSystem.isDirectory(source) else {
                    throw LabError(.invalidInput, "files[\(index)]: source \(source) is not a file on the host")
                }
            }
        }
        return sources
    }

    func makePlan(_ definition: ImageDefinition, _ sources: Sources) throws -> ImagePlan {
        var plan = ImagePlan()
        // Mount points every instance needs, present even in an empty image
        // because the container's root is mounted read-only; /data is where
        // a volume (a host directory, a VM's disk) is mounted.
        for directory in ["dev", "proc", "sys", "run", "data"] {
            try plan.add(directory, .directory, mode: 0o755, origin: "base")
        }
        try plan.add("tmp", .directory, mode: 0o1777, origin: "base")
        if let busybox = sources.busybox {
            let origin = "base busybox"
            for directory in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "var", "var/tmp"] {
                try plan.add(directory, .directory, mode: 0o755, origin: origin)
            }
            try plan.add("root", .directory, mode: 0o700, origin: origin)
            try plan.add("bin/busybox", .file(.host(busybox)), mode: 0o755, origin: origin)
            for applet in sources.applets {
                let depth = applet.split(separator: "/").count - 1
                let target = String(repeating: "../", count: depth) + "bin/busybox"
                try plan.add(applet, .symlink(depth == 1 && applet.hasPrefix("bin/") ? "busybox" : target), mode: 0o777, origin: origin)
            }
            try plan.add("etc/passwd", .file(.bytes(Array("root:x:0:0:root:/root:/bin/sh\n".utf8))), mode: 0o644, origin: origin)
            try plan.add("etc/group", .file(.bytes(Array("root:x:0:\n".utf8))), mode: 0o644, origin: origin)
        }
        if let agent = sources.agent {
            try plan.add("sbin/isolab-agent", .file(.host(agent)), mode: 0o755, origin: "agent")
            try plan.add("init", .symlink("sbin/isolab-agent"), mode: 0o777, origin: "agent")
        }
        var fromClosures = Set<String>()
        for (index, closure) in sources.closures.enumerated() {
            for file in closure {
                let path = try ImagePlan.normalize(file.imagePath, origin: "binaries[\(index)]")
                // Two binaries often share libraries: the same file once.
                guard fromClosures.insert(path).inserted else { continue }
                try plan.add(file.imagePath, .file(.host(file.hostPath)), mode: 0o755, origin: "binaries[\(index)]", fromUser: true)
            }
        }
        for (index, file) in definition.files.enumerated() {
            let origin = "files[\(index)]"
            guard file.path.hasPrefix("/") else {
                throw LabError(.invalidInput, "\(origin): path '\(file.path)' must be absolute (an image path such as /etc/app.conf)")
            }
            if let link = file.link {
                guard !link.isEmpty else { throw LabError(.invalidInput, "\(origin): link target is empty") }
                try plan.add(file.path, .symlink(link), mode: 0o777, origin: origin, fromUser: true)
            } else if let content = file.content {
                try plan.add(file.path, .file(.bytes(Array(content.utf8))), mode: file.mode ?? 0o644, origin: origin, fromUser: true)
            } else if let source = file.source {
                // The host file's own mode and owner, unless the definition gives a mode.
                var st = stat()
                guard stat(source, &st) == 0 else { throw LabError.syscall("stat \(source)") }
                try plan.add(file.path, .file(.host(source)), mode: file.mode ?? (UInt32(st.st_mode) & 0o7777), origin: origin, fromUser: true,
                             uid: st.st_uid, gid: st.st_gid)
            }
        }
        try plan.validateLinks()
        return plan
    }

    /// What the build depends on, cheaply: the definition, the layout
    /// version, and the identity (device, inode, size, mtime) of every host
    /// file it copies. Equal fingerprints mean an equal image, so a rebuild
    /// need not read or hash any content.
    func inputFingerprint(_ definition: ImageDefinition, _ sources: Sources) throws -> String {
        var text = "layout \(Self.layoutVersion)\n"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        text += String(decoding: try encoder.encode(definition), as: UTF8.self) + "\n"
        var hostFiles = [sources.busybox, sources.agent].compactMap { $0 }
        hostFiles += sources.closures.flatMap { $0.map(\.hostPath) }
        hostFiles += definition.files.compactMap(\.source)
        for path in hostFiles {
            var st = stat()
            guard stat(path, &st) == 0 else { throw LabError.syscall("stat \(path)") }
            text += "\(path) \(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)\n"
        }
        return Array(text.utf8).sha256Hex
    }

    /// Writes the image into a temporary directory of the store and renames
    /// it into place: an interrupted build never leaves a directory that
    /// looks like a complete image.
    func write(plan: ImagePlan, contents: [String: [UInt8]], hex: String,
               manifest: (_ initramfsBytes: Int, _ diskBytes: Int) -> ImageManifest, gzip: Bool) throws {
        try store.paths.ensure(.images)
        removeAbandonedBuilds()
        // Unique per build: two threads may build the same image at once.
        let temporary = store.root + "/.build-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(hex.prefix(12))"
        var complete = false
        defer {
            if !complete { try? FileSystem.removeTree(temporary) }
        }
        let rootfs = temporary + "/rootfs"
        // QEMU reads the initramfs in it: the image directory is searchable below the state directory's gate.
        try FileSystem.makeDirectory(temporary, mode: 0o755)
        try FileSystem.makeDirectory(rootfs, mode: 0o755)
        var cpio = CpioWriter()
        var diskBytes = 0
        for entry in plan.sorted {
            let path = rootfs + "/" + entry.path
            switch entry.kind {
            case .directory:
                guard mkdir(path, 0o700) == 0 else { throw LabError.syscall("create directory \(path)") }
                guard chmod(path, mode_t(entry.mode)) == 0 else { throw LabError.syscall("chmod \(path)") }
                try cpio.appendDirectory(entry.path, mode: entry.mode)
            case .symlink(let target):
                guard symlink(target, path) == 0 else { throw LabError.syscall("create symlink \(path)") }
                try cpio.appendSymlink(entry.path, target: target)
            case .file:
                let bytes = contents[entry.path] ?? []
                // O_EXCL and O_NOFOLLOW: the tree is new and built parents first, so nothing may already be there.
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw LabError.syscall("create \(path)") }
                defer { close(fd) }
                try FileSystem.writeAll(fd, bytes, path: path)
                if entry.uid != 0 || entry.gid != 0 {
                    guard fchown(fd, entry.uid, entry.gid) == 0 else { throw LabError.syscall("chown \(path)") }
                }
                // After the chown, which clears set-id bits.
                guard fchmod(fd, mode_t(entry.mode)) == 0 else { throw LabError.syscall("chmod \(path)") }
                var st = stat()
                if fstat(fd, &st) == 0 { diskBytes += Int(st.st_blocks) * 512 }
                try cpio.appendFile(entry.path, mode: entry.mode, uid: entry.uid, gid: entry.gid, contents: bytes)
            }
        }
        cpio.finish()
        let archive = gzip ? try Gzip.compress(cpio.bytes) : cpio.bytes
        let final = manifest(archive.count, diskBytes)
        try FileSystem.writeAtomically(temporary + "/" + final.footprint.initramfsFile, bytes: archive)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileSystem.writeAtomically(temporary + "/manifest.json", bytes: Array(try encoder.encode(final)) + [10])
        let destination = store.directory(ofDigestHex: hex)
        if rename(temporary, destination) != 0 {
            // Another build of the same content won the race: its image is the same.
            guard errno == EEXIST || errno == ENOTEMPTY else { throw LabError.syscall("rename \(temporary) to \(destination)") }
            return
        }
        complete = true
    }

    /// Temporary directories of builds whose process is gone (killed mid-build).
    func removeAbandonedBuilds() {
        for name in FileSystem.list(store.root) where name.hasPrefix(".build-") || name.hasPrefix(".remove-") {
            // .build-<pid>-<random>-<digest prefix> and .remove-<digest>-<pid>
            let fields = name.split(separator: "-")
            guard fields.count >= 3, let pid = Int32(name.hasPrefix(".build-") ? fields[1] : fields[fields.count - 1]) else { continue }
            if !ProcessState.isAlive(pid) {
                try? FileSystem.removeTree(store.root + "/" + name)
            }
        }
    }
}
