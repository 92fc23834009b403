import AsyncHTTPClient
import Foundation
import LabCore
import LabImage
import LabModel
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// `isolab image pull REF`: an image from a registry into the store. The
/// manifest (an index resolved to this host's platform), the config and
/// every layer not stored yet are fetched, a few at a time; each blob is
/// streamed to a file beside the store's blobs and hashed as it arrives,
/// and renamed in only when its size and digest are the descriptor's. A
/// connection dropped in a blob is resumed from where it broke (`Range`).
/// The image appears only when every layer is unpacked: an interrupted
/// pull leaves verified blobs (reused by the next pull, removed by
/// `isolab gc` while no image names them), never a part-written one.
public struct ImagePuller: Sendable {
    public var images: ImageStore
    public var oci: OCIStore
    /// Blobs fetched at once.
    public var parallel = 3
    /// One line per blob fetched (bytes and rate), for a terminal.
    public var progress: (@Sendable (String) -> Void)?

    public init(images: ImageStore) {
        self.images = images
        oci = OCIStore(paths: images.paths)
    }

    public struct Result: Sendable {
        public var record: ImageStore.Record
        public var name: String
        public var manifest: OCI.Descriptor
        public var blobsFetched = 0
        public var blobsStored = 0
        public var bytesFetched: Int64 = 0
        /// Seconds per phase: resolve (the registry's /v2/ and its
        /// authentication), manifest, blobs, unpack.
        public var phases: [(String, Double)] = []
        public var alreadyStored = false
        /// Entries a layer held that the lab does not make (device nodes).
        public var skipped: [String] = []
    }

    public func pull(_ reference: ImageReference, client: RegistryClient, name: String? = nil) async throws -> Result {
        let name = name ?? reference.description
        guard ImageDefinition.isValidImageName(name) else { throw LabError(.invalidInput, "'\(name)' is neither an image name nor a registry reference") }
        guard ImageDefinition.builtin(name) == nil, !BuiltinOCI.names.contains(name) else {
            throw LabError(.invalidInput, "'\(name)' is the name of a built-in image; give the pull another name with --name")
        }
        var phases: [(String, Double)] = []
        var clock = (Double(MonotonicClock.now()) / 1e9)
        func lap(_ phase: String) {
            let now = (Double(MonotonicClock.now()) / 1e9)
            phases.append((phase, now - clock))
            clock = now
        }
        let repository = reference.repository
        let scope = "repository:\(repository):pull"
        // resolve: the API's root, which answers whether (and how) to authenticate.
        let root = RegistryClient.Call(method: .GET, url: client.base + "/v2/", scope: scope, what: "the registry's API root (/v2/)")
        let rootResponse = try await client.send(root)
        _ = try? await rootResponse.body.collect(upTo: 64 << 10)
        guard rootResponse.status == .ok else { throw await client.failure(rootResponse, root) }
        lap("resolve")

        var descriptor = try await fetchManifest(reference.manifestReference, expected: reference.digest.map { try OCI.Digest(parsing: $0) },
                                                 reference: reference, client: client, scope: scope)
        if OCI.MediaType.indexes.contains(descriptor.mediaType) {
            let index = try JSONDecoder().decode(OCI.Index.self, from: Data(try oci.document(descriptor.digest)))
            let match = try OCI.hostManifest(in: index, what: reference.description)
            descriptor = try await fetchManifest(match.digest.description, expected: match.digest, reference: reference, client: client, scope: scope)
        }
        guard OCI.MediaType.manifests.contains(descriptor.mediaType) else {
            throw LabError(.invalidInput, "\(reference) is a \(descriptor.mediaType), not an image manifest")
        }
        let manifest: OCI.Manifest
        do {
            manifest = try JSONDecoder().decode(OCI.Manifest.self, from: Data(try oci.document(descriptor.digest)))
        } catch {
            throw LabError(.invalidInput, "\(reference): its manifest is not a valid image manifest")
        }
        lap("manifest")

        // blobs: the config first, checked before any layer is fetched (an
        // image for another platform, or an artifact that is not an image,
        // costs no layer), then every layer the store lacks.
        guard OCI.MediaType.configs.contains(manifest.config.mediaType) else {
            throw LabError(.invalidInput, "\(reference): its config is \(manifest.config.mediaType): an artifact, not an image")
        }
        guard manifest.config.size >= 0, manifest.config.size <= OCI.Bounds.document else {
            throw LabError(.invalidInput, "\(reference): its config declares \(manifest.config.size) bytes, above the lab's bound")
        }
        var configBytes: Int64 = 0
        let configStored = oci.hasBlob(manifest.config.digest)
        if !configStored { configBytes = try await fetchBlob(manifest.config, reference: reference, client: client, scope: scope) }
        let host = OCI.Platform.host
        if let config = try? JSONDecoder().decode(OCI.ImageConfig.self, from: Data(try oci.document(manifest.config.digest))),
           config.os != host.os || config.architecture != host.architecture {
            throw LabError(.invalidInput, "\(reference) is an image for \(config.os)/\(config.architecture); this host runs \(host.description)")
        }
        for (i, layer) in manifest.layers.enumerated() where OCI.MediaType.compression(ofLayer: layer.mediaType) == nil {
            throw LabError(.invalidInput, "\(reference): layer \(i + 1) has an unknown media type \(layer.mediaType)")
        }
        let layers = manifest.layers.reduce(into: [OCI.Descriptor]()) { list, blob in
            if !list.contains(where: { $0.digest == blob.digest }) { list.append(blob) }
        }
        let missing = layers.filter { !oci.hasBlob($0.digest) }
        for blob in missing {
            guard blob.size >= 0, blob.size <= OCI.Bounds.layer else {
                throw LabError(.invalidInput, "\(reference): layer \(blob.digest.short) declares \(blob.size) bytes, above the lab's bound")
            }
        }
        let fetchedBytes = try await withThrowingTaskGroup(of: Int64.self) { group in
            var next = 0
            var total: Int64 = 0
            while next < min(parallel, missing.count) {
                let blob = missing[next]
                group.addTask { try await self.fetchBlob(blob, reference: reference, client: client, scope: scope) }
                next += 1
            }
            while let bytes = try await group.next() {
                total += bytes
                if next < missing.count {
                    let blob = missing[next]
                    group.addTask { try await self.fetchBlob(blob, reference: reference, client: client, scope: scope) }
                    next += 1
                }
            }
            return total
        } + configBytes
        lap("blobs")

        let result = try OCIImporter(images: images).storeFetched(manifest: descriptor, label: reference.description, name: name)
        lap("unpack")
        return Result(record: result.record, name: name, manifest: descriptor, blobsFetched: missing.count + (configStored ? 0 : 1),
                      blobsStored: layers.count - missing.count + (configStored ? 1 : 0), bytesFetched: fetchedBytes, phases: phases,
                      alreadyStored: result.alreadyStored, skipped: result.skipped)
    }

    /// Fetches a manifest or index, checks its digest (the one asked for, and
    /// the registry's `Docker-Content-Digest`), and stores its exact bytes.
    func fetchManifest(_ tagOrDigest: String, expected: OCI.Digest?, reference: ImageReference, client: RegistryClient, scope: String) async throws -> OCI.Descriptor {
        var call = RegistryClient.Call(method: .GET, url: client.base + "/v2/\(reference.repository)/manifests/\(tagOrDigest)", scope: scope,
                                       what: "manifest \(reference.repository):\(tagOrDigest)")
        call.headers.add(name: "Accept", value: RegistryClient.manifestAccept)
        let response = try await client.send(call)
        guard response.status == .ok else { throw await client.failure(response, call) }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: Int(OCI.Bounds.document))
        } catch is NIOTooManyBytesError {
            throw LabError(.invalidInput, "\(call.what) is larger than \(OCI.Bounds.document) bytes: not a manifest")
        } catch {
            throw client.describe(error, call)
        }
        let bytes = Array(buffer: body)
        let digest = OCI.Digest(of: bytes)
        if let expected, expected != digest {
            throw LabError(.invalidInput, "\(call.what): the registry sent content whose digest is \(digest), not \(expected): refused")
        }
        if let header = response.headers.first(name: "Docker-Content-Digest"), header != digest.description {
            throw LabError(.invalidInput, "\(call.what): its content's digest \(digest) is not the registry's Docker-Content-Digest \(header): refused")
        }
        struct Typed: Decodable { var mediaType: String? }
        let declared = (try? JSONDecoder().decode(Typed.self, from: Data(bytes)))?.mediaType
        let header = response.headers.first(name: "Content-Type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = declared ?? header, OCI.MediaType.manifests.union(OCI.MediaType.indexes).contains(type) else {
            throw LabError(.invalidInput, "\(call.what) has media type \(declared ?? header ?? "none"): not an OCI or Docker schema-2 image")
        }
        return try oci.ingest(bytes: bytes, mediaType: type)
    }

    /// Streams one blob into the store, hashing as it arrives; a broken
    /// connection is resumed at the byte it broke at. Returns the bytes fetched.
    func fetchBlob(_ blob: OCI.Descriptor, reference: ImageReference, client: RegistryClient, scope: String) async throws -> Int64 {
        try oci.paths.ensure(.imageBlobs)
        let temporary = oci.blobs + "/.pull-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LabError.syscall("create \(temporary)") }
        let token = CleanupRegistry.shared.register { unlink(temporary) }
        var kept = false
        defer {
            close(fd)
            if !kept { unlink(temporary) }
            CleanupRegistry.shared.unregister(token)
        }
        let started = (Double(MonotonicClock.now()) / 1e9)
        let hash = try BlobHash()
        var offset: Int64 = 0
        var received: Int64 = 0
        var attempt = 0
        let what = "blob \(blob.digest.short) of \(reference)"
        while offset < blob.size || attempt == 0 {
            attempt += 1
            var call = RegistryClient.Call(method: .GET, url: client.base + "/v2/\(reference.repository)/blobs/\(blob.digest)", scope: scope,
                                           timeout: .seconds(60), followsRedirects: true, what: what)
            if offset > 0 { call.headers.add(name: "Range", value: "bytes=\(offset)-") }
            let response = try await client.send(call)
            switch response.status {
            case .ok:
                // The whole blob (a server that ignores Range starts over).
                if offset > 0 {
                    guard ftruncate(fd, 0) == 0 else { throw LabError.syscall("truncate \(temporary)") }
                    offset = 0
                    try hash.reset()
                }
            case .partialContent where offset > 0:
                let range = response.headers.first(name: "Content-Range") ?? ""
                guard range.hasPrefix("bytes \(offset)-\(blob.size - 1)/") else {
                    throw LabError(.failed, "\(what): the registry resumed at '\(range)', not at byte \(offset)")
                }
            default:
                throw await client.failure(response, call)
            }
            do {
                for try await chunk in response.body {
                    guard offset + Int64(chunk.readableBytes) <= blob.size else {
                        throw LabError(.invalidInput, "\(what): the registry sent more than the \(blob.size) bytes its descriptor declares: refused")
                    }
                    try chunk.withUnsafeReadableBytes { bytes in
                        hash.update(bytes)
                        var done = 0
                        while done < bytes.count {
                            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                            if n < 0 && errno == EINTR { continue }
                            guard n > 0 else { throw LabError.syscall("write \(temporary)") }
                            done += n
                        }
                    }
                    offset += Int64(chunk.readableBytes)
                    received += Int64(chunk.readableBytes)
                }
            } catch let error as LabError {
                throw error
            } catch {
                if error is CancellationError || Task.isCancelled { throw error }
                // Broken mid-blob: resume where it broke, a few times.
                guard attempt < client.attempts + 2 else {
                    throw LabError(.failed, "\(what): the connection broke \(attempt) times (last at byte \(offset) of \(blob.size)): \(error)")
                }
                try await client.pause(attempt, retryAfter: nil)
                continue
            }
            if offset < blob.size {
                guard attempt < client.attempts + 2 else {
                    throw LabError(.failed, "\(what): the registry sent \(offset) of \(blob.size) bytes")
                }
                continue
            }
        }
        let digest = hash.finish()
        guard offset == blob.size, digest == blob.digest else {
            throw LabError(.invalidInput, "\(what): the content does not match its digest (got \(digest), \(offset) bytes): refused, nothing stored")
        }
        guard fsync(fd) == 0 else { throw LabError.syscall("fsync \(temporary)") }
        guard rename(temporary, oci.blobPath(blob.digest)) == 0 else { throw LabError.syscall("rename \(temporary)") }
        kept = true
        if let progress {
            let seconds = max((Double(MonotonicClock.now()) / 1e9) - started, 1e-6)
            progress("\(blob.digest.short): \(ByteSize.format(UInt64(blob.size))) in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(received) / seconds / 1e6)) MB/s)")
        }
        return received
    }
}
