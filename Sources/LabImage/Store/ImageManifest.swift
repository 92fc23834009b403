import LabWire
import LabModel

/// `manifest.json` of a stored image.
public struct ImageManifest: Codable, Sendable, Equatable {
    public static let currentSchemaVersion = 1

    public struct File: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case directory, file, symlink }
        public var path: String
        public var type: Kind
        /// Octal permission bits, `"0755"`.
        public var mode: String
        public var size: Int?
        public var sha256: String?
        public var target: String?
        /// The owner a host file had, when not root.
        public var uid: UInt32?
        public var gid: UInt32?
    }

    /// What a container or a VM starts with by default.
    public struct Config: Codable, Sendable, Equatable {
        public var env: [String: String]
        public var workdir: String
        public var entrypoint: [String]
        /// The image's `User` (an OCI image's config): uid[:gid] or names
        /// from its /etc/passwd and /etc/group; nil: root.
        public var user: String? = nil
    }

    public typealias Footprint = ImageFootprint

    public var schemaVersion: Int
    public var name: String
    /// `sha256:` + hex of the canonical content (config, files, initramfs format).
    public var digest: String
    public var created: String
    public var base: String
    /// The agent protocol version of the included agent, nil without one.
    public var agentProtocolVersion: Int?
    public var config: Config
    public var files: [File]
    public var totalBytes: Int
    public var footprint: Footprint
    /// A whole-OS image (base debian): its system, kernel, initrd and disk.
    public var os: OperatingSystem? = nil
    /// An OCI image (imported): its manifest and layers in the blob store.
    public var oci: OCIImage? = nil

    /// What the store keeps of an OCI image beside its blobs.
    public struct OCIImage: Codable, Sendable, Equatable {
        public struct Layer: Codable, Sendable, Equatable {
            public var blob: OCI.Descriptor
            public var diffID: OCI.Digest
            public var chainID: OCI.Digest
            /// Sum of the regular files' sizes once unpacked.
            public var unpackedBytes: Int
        }
        /// The manifest's own descriptor (its digest is the image's).
        public var manifest: OCI.Descriptor
        public var config: OCI.Descriptor
        /// Base first, as in the manifest.
        public var layers: [Layer]
        public var platform: OCI.Platform
        /// Where it came from: the path imported, and the ref chosen.
        public var source: String
    }

    /// One installed package, as `dpkg-query -W` lists it.
    public struct Package: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public var architecture: String
    }

    /// What a whole-OS image holds beside its `rootfs/`.
    public struct OperatingSystem: Codable, Sendable, Equatable {
        public var distribution: String
        /// PID 1: `systemd`.
        public var initSystem: String
        /// File names in the image's directory: the kernel, the initrd, the VM's disk (qcow2).
        public var kernel: String
        public var initrd: String
        public var disk: String
        public var kernelRelease: String
        public var diskBytes: Int
        public var kernelBytes: Int
        public var packages: [Package]

        enum CodingKeys: String, CodingKey {
            case distribution, kernel, initrd, disk, kernelRelease, diskBytes, kernelBytes, packages
            case initSystem = "init"
        }
    }

    /// The hex part of the digest, the store's directory name.
    public var digestHex: String { String(digest.dropFirst("sha256:".count)) }

    /// The part of the manifest the digest covers: what the image holds and
    /// does, not its name or when it was built.
    struct Canonical: Codable {
        var config: Config
        var files: [File]
        var initramfs: String
    }
}

// In an extension, so that the memberwise initializer stays.
extension ImageManifest {
    /// Set in a decoder's `userInfo` to leave `files` empty: the list is
    /// most of a manifest (hundreds of entries for the built-in image), and
    /// starting an instance needs none of it.
    public static let skipsFileList = CodingUserInfoKey(rawValue: "isolab.manifest.skipsFileList")!

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        name = try container.decode(String.self, forKey: .name)
        digest = try container.decode(String.self, forKey: .digest)
        created = try container.decode(String.self, forKey: .created)
        base = try container.decode(String.self, forKey: .base)
        agentProtocolVersion = try container.decodeIfPresent(Int.self, forKey: .agentProtocolVersion)
        config = try container.decode(Config.self, forKey: .config)
        files = decoder.userInfo[Self.skipsFileList] as? Bool == true ? [] : try container.decode([File].self, forKey: .files)
        totalBytes = try container.decode(Int.self, forKey: .totalBytes)
        footprint = try container.decode(Footprint.self, forKey: .footprint)
        os = try container.decodeIfPresent(OperatingSystem.self, forKey: .os)
        oci = try container.decodeIfPresent(OCIImage.self, forKey: .oci)
    }
}

extension Array where Element == UInt8 {
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    var sha256Hex: String { SHA256.hash(self).hex }
}
