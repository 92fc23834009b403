/// An image: "program + configuration + environment", as a scenario's
/// `image:` section or a standalone YAML file for `isolab image build`.
/// See docs/images.md for the schema.
public struct ImageDefinition: Codable, Sendable, Equatable {
    public enum Base: String, Codable, Sendable, CaseIterable {
        /// Debian's static busybox with its applet links.
        case busybox
        /// Nothing but what the definition lists.
        case empty
        /// A whole Debian 12 system (systemd, udev, the cloud kernel), built
        /// with mmdebstrap from the host's apt sources; the agent runs as
        /// `isolab-agent.service` once `multi-user.target` is reached.
        case debian
    }

    /// A file placed in the image: a host file (`source`), inline text
    /// (`content`) or a symbolic link (`link`), exactly one of them.
    public struct FileEntry: Codable, Sendable, Equatable {
        public var path: String
        public var source: String?
        public var content: String?
        public var link: String?
        /// Permission bits; files default to 0644 (0755 when the host file is executable).
        public var mode: UInt32?

        public init(path: String, source: String? = nil, content: String? = nil, link: String? = nil, mode: UInt32? = nil) {
            self.path = path
            self.source = source
            self.content = content
            self.link = link
            self.mode = mode
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path, source, content, link, mode
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            path = try container.decode(String.self, forKey: .path)
            source = try container.decodeIfPresent(String.self, forKey: .source)
            content = try container.decodeIfPresent(String.self, forKey: .content)
            link = try container.decodeIfPresent(String.self, forKey: .link)
            mode = try container.decodeIfPresent(FileMode.self, forKey: .mode)?.value
            guard [source, content, link].compactMap({ $0 }).count == 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .path, in: container,
                    debugDescription: "give exactly one of source (a host path), content (inline text) or link (a symlink target)")
            }
        }
    }

    public var name: String
    public var base: Base
    /// Include isolab-agent as /sbin/isolab-agent and as the VM's /init.
    public var agent: Bool
    /// Host executables, each copied with its shared-library closure.
    public var binaries: [String]
    public var files: [FileEntry]
    public var env: [String: String]
    public var workdir: String
    /// The default command of a container; nil: the agent.
    public var entrypoint: [String]?
    /// Compress the initramfs with gzip (the kernel unpacks it).
    public var gzip: Bool

    public init(
        name: String, base: Base = .busybox, agent: Bool = true, binaries: [String] = [], files: [FileEntry] = [],
        env: [String: String] = [:], workdir: String = "/", entrypoint: [String]? = nil, gzip: Bool = false
    ) {
        self.name = name
        self.base = base
        self.agent = agent
        self.binaries = binaries
        self.files = files
        self.env = env
        self.workdir = workdir
        self.entrypoint = entrypoint
        self.gzip = gzip
    }

    /// The built-in image every command uses when none is named: busybox and the agent.
    public static let builtinBusybox = ImageDefinition(name: "busybox")

    /// The built-in whole-OS image: Debian 12 with systemd, booted by the
    /// `system-container` and `os-vm` backends.
    public static let builtinDebian = ImageDefinition(name: "debian", base: .debian)

    public static func builtin(_ name: String) -> ImageDefinition? {
        switch name {
        case "busybox": builtinBusybox
        case "debian": builtinDebian
        default: nil
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, base, agent, binaries, files, env, workdir, entrypoint, gzip
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        guard Self.isValidName(name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .name, in: container,
                debugDescription: "'\(name)' is not an image name: use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        }
        base = try container.decodeIfPresent(String.self, forKey: .base) == nil ? .busybox : try container.decodeChoice(Base.self, forKey: .base)
        agent = try container.decodeIfPresent(Bool.self, forKey: .agent) ?? true
        binaries = try container.decodeIfPresent([String].self, forKey: .binaries) ?? []
        files = try container.decodeIfPresent([FileEntry].self, forKey: .files) ?? []
        env = try container.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        for key in env.keys where !Self.isValidEnvironmentName(key) {
            throw DecodingError.dataCorruptedError(
                forKey: .env, in: container, debugDescription: "'\(key)' is not an environment variable name (letters, digits, '_')")
        }
        workdir = try container.decodeIfPresent(String.self, forKey: .workdir) ?? "/"
        guard workdir.hasPrefix("/") else {
            throw DecodingError.dataCorruptedError(forKey: .workdir, in: container, debugDescription: "'\(workdir)' must be an absolute path")
        }
        entrypoint = try container.decodeIfPresent([String].self, forKey: .entrypoint)
        if let entrypoint, entrypoint.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .entrypoint, in: container, debugDescription: "must name a program")
        }
        gzip = try container.decodeIfPresent(Bool.self, forKey: .gzip) ?? false
    }

    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        return alnum(bytes[0]) && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    public static func isValidEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return name.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}

/// Permission bits written as an octal string (`"0755"`) or number (`0755`,
/// read as octal digits).
struct FileMode: Decodable {
    var value: UInt32

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // The scalar's own text: YAML 1.1 would read 0755 as the number 493.
        let text: String
        if let raw = try? container.decode(String.self) {
            text = raw
        } else {
            text = String(try container.decode(Int.self))
        }
        let digits = text.hasPrefix("0o") ? String(text.dropFirst(2)) : text
        guard let value = UInt32(digits, radix: 8), value <= 0o7777 else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "mode '\(text)' is not octal permission bits such as \"0755\"")
        }
        self.value = value
    }
}

/// Sizes for the footprint claim: what the image's two forms take.
public struct ImageFootprint: Codable, Sendable, Equatable {
    /// Sum of the regular files' sizes.
    public var rootfsBytes: Int
    /// What `rootfs/` occupies on disk (allocated blocks).
    public var rootfsDiskBytes: Int
    public var initramfsBytes: Int
    /// `initramfs.cpio` or `initramfs.cpio.gz`.
    public var initramfsFile: String

    public init(rootfsBytes: Int, rootfsDiskBytes: Int, initramfsBytes: Int, initramfsFile: String) {
        self.rootfsBytes = rootfsBytes
        self.rootfsDiskBytes = rootfsDiskBytes
        self.initramfsBytes = initramfsBytes
        self.initramfsFile = initramfsFile
    }
}
