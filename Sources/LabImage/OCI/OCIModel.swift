import LabCore
import LabModel
import LabWire

#if canImport(Glibc)
import Glibc
#endif

/// The OCI image spec's documents (image-spec v1.1: descriptor, index,
/// manifest, config), as far as the lab reads them. Docker's schema-2 media
/// types have the same shapes and are accepted beside OCI's. Unknown fields
/// are ignored, as the spec asks. The bytes of a manifest or config are
/// kept exactly as received: re-encoding them would change their digest.
public enum OCI {
    /// `sha256:` and 64 lower-case hex digits: the only algorithm the lab
    /// stores. It is checked before a digest ever becomes a path.
    public struct Digest: Hashable, Codable, Sendable, CustomStringConvertible {
        public let hex: String

        public init(parsing text: String) throws {
            guard text.hasPrefix("sha256:"), Self.isHex64(text.dropFirst(7)) else {
                throw LabError(.invalidInput, "'\(text.prefix(80))' is not a sha256 digest (sha256: and 64 lower-case hex digits)")
            }
            hex = String(text.dropFirst(7))
        }

        public init(hex: String) { self.hex = hex }

        public init(of bytes: [UInt8]) { hex = SHA256.hash(bytes).hex }

        public var description: String { "sha256:" + hex }
        public var short: String { String(hex.prefix(12)) }

        static func isHex64<S: StringProtocol>(_ s: S) -> Bool {
            s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        }

        public init(from decoder: any Decoder) throws {
            try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
    }

    public enum MediaType {
        public static let index = "application/vnd.oci.image.index.v1+json"
        public static let manifest = "application/vnd.oci.image.manifest.v1+json"
        public static let config = "application/vnd.oci.image.config.v1+json"
        public static let layerTar = "application/vnd.oci.image.layer.v1.tar"
        public static let layerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
        public static let layerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
        public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
        public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
        public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
        public static let dockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"
        public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

        public static let indexes: Set<String> = [index, dockerList]
        public static let manifests: Set<String> = [manifest, dockerManifest]
        public static let configs: Set<String> = [config, dockerConfig]

        /// A layer's compression by its media type (nondistributable and
        /// foreign layers included: a local image carries their blobs).
        public static func compression(ofLayer type: String) -> Compression? {
            switch type {
            case layerTar, dockerLayerTar, "application/vnd.oci.image.layer.nondistributable.v1.tar",
                 "application/vnd.docker.image.rootfs.foreign.diff.tar": .uncompressed
            case layerGzip, dockerLayerGzip, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                 "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": .gzip
            case layerZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": .zstd
            default: nil
            }
        }
    }

    public enum Compression: String, Codable, Sendable { case uncompressed, gzip, zstd }

    public struct Platform: Codable, Sendable, Equatable {
        public var architecture: String
        public var os: String
        public var variant: String?

        public init(architecture: String, os: String, variant: String? = nil) {
            self.architecture = architecture
            self.os = os
            self.variant = variant
        }

        /// This host's, in GOARCH/GOOS words.
        public static var host: Platform {
            var name = utsname()
            uname(&name)
            let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let architecture = ["x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "ppc64le": "ppc64le",
                                "s390x": "s390x", "riscv64": "riscv64"][machine] ?? machine
            return Platform(architecture: architecture, os: "linux")
        }

        public var description: String { os + "/" + architecture + (variant.map { "/" + $0 } ?? "") }
    }

    public struct Descriptor: Codable, Sendable, Equatable {
        public var mediaType: String
        public var digest: Digest
        public var size: Int64
        public var annotations: [String: String]?
        public var platform: Platform?

        public init(mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
            self.annotations = annotations
            self.platform = platform
        }

        public static let refName = "org.opencontainers.image.ref.name"
        /// Docker's (and containerd's) full name of an image in a layout.
        public static let containerdName = "io.containerd.image.name"
        public var refName: String? { annotations?[Self.refName] }
    }

    public struct Index: Codable, Sendable {
        public var schemaVersion: Int
        public var mediaType: String?
        public var manifests: [Descriptor]

        public init(manifests: [Descriptor]) {
            schemaVersion = 2
            mediaType = MediaType.index
            self.manifests = manifests
        }
    }

    /// The entry of `index` for this host's platform; the error names the
    /// platforms it has. `what` names the index in the message.
    public static func hostManifest(in index: Index, what: String) throws -> Descriptor {
        let host = Platform.host
        let candidates = index.manifests.filter { MediaType.manifests.union(MediaType.indexes).contains($0.mediaType) }
        guard let match = candidates.first(where: { $0.platform?.os == host.os && $0.platform?.architecture == host.architecture }) else {
            let found = candidates.compactMap { $0.platform?.description }.filter { !$0.hasPrefix("unknown") }
            throw LabError(.invalidInput, "\(what) has no image for \(host.description); it has \(found.isEmpty ? "no platform named" : found.joined(separator: ", "))")
        }
        return match
    }

    public struct Manifest: Codable, Sendable {
        public var schemaVersion: Int
        public var mediaType: String?
        public var config: Descriptor
        public var layers: [Descriptor]

        public init(config: Descriptor, layers: [Descriptor]) {
            schemaVersion = 2
            mediaType = MediaType.manifest
            self.config = config
            self.layers = layers
        }
    }

    /// What the lab honours of an image's config.
    public struct ImageConfig: Codable, Sendable {
        public struct Settings: Codable, Sendable {
            public var User: String?
            public var Env: [String]?
            public var Entrypoint: [String]?
            public var Cmd: [String]?
            public var WorkingDir: String?
        }
        public struct RootFS: Codable, Sendable {
            public var type: String
            public var diff_ids: [Digest]
        }
        public var architecture: String
        public var os: String
        public var variant: String?
        public var config: Settings?
        public var rootfs: RootFS
    }

    /// Bounds on what a declared size may be before a byte is read.
    public enum Bounds {
        /// Indexes, manifests and configs: documents, not data.
        public static let document: Int64 = 4 << 20
        /// One layer as stored.
        public static let layer: Int64 = 16 << 30
    }

    /// ChainID (image-spec config.md): the identity of a stack of layers, by
    /// which an unpacked layer directory is named: the same DiffID on another
    /// base is another directory.
    public static func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
        var chain: [Digest] = []
        for diffID in diffIDs {
            guard let last = chain.last else { chain.append(diffID); continue }
            chain.append(Digest(of: Array((last.description + " " + diffID.description).utf8)))
        }
        return chain
    }
}
