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

/// `isolab image push NAME REF`: a stored image to a registry, as it is
/// stored (an imported or pulled image keeps its digest; a built one goes
/// in its OCI form). Each blob the registry lacks (`HEAD`) is uploaded in
/// one `PUT` streamed from the store, or mounted from the repository the
/// image was pulled from when that is on the same registry; the manifest
/// goes last, under the tag, its exact bytes.
public struct ImagePusher: Sendable {
    public var images: ImageStore
    public var oci: OCIStore
    public var progress: (@Sendable (String) -> Void)?

    public init(images: ImageStore) {
        self.images = images
        oci = OCIStore(paths: images.paths)
    }

    public struct Result: Sendable {
        public var manifest: OCI.Descriptor
        public var blobsUploaded = 0
        public var blobsMounted = 0
        public var blobsPresent = 0
        public var bytesUploaded: Int64 = 0
    }

    public func push(_ record: ImageStore.Record, to reference: ImageReference, client: RegistryClient) async throws -> Result {
        let image = try OCIForm.of(record, paths: images.paths)
        let repository = reference.repository
        let scope = "repository:\(repository):pull,push"
        // The repository it came from, if it came from this registry: blobs mount from there.
        let origin = record.names.compactMap { try? ImageReference.ifReference($0) }.first { $0.host == reference.host && $0.repository != repository }
        var result = Result(manifest: image.manifest)
        // Pushed under its tag; a digest, if given, must be this image's (the
        // registry would refuse other bytes under it).
        if let digest = reference.digest, digest != image.manifest.digest.description {
            throw LabError(.invalidInput, "\(reference) names digest \(digest), but the image is \(image.manifest.digest); push it by tag")
        }
        for blob in image.layers.map(\.blob) + [image.config] {
            let head = RegistryClient.Call(method: .HEAD, url: client.base + "/v2/\(repository)/blobs/\(blob.digest)", scope: scope, what: "blob \(blob.digest.short)")
            let exists = try await client.send(head)
            if exists.status == .ok || (300..<400).contains(exists.status.code) {
                result.blobsPresent += 1
                continue
            }
            guard exists.status == .notFound else { throw await client.failure(exists, head) }
            let started = Double(MonotonicClock.now()) / 1e9
            if try await upload(blob, repository: repository, mountFrom: origin?.repository, client: client, scope: scope) {
                result.blobsMounted += 1
            } else {
                result.blobsUploaded += 1
                result.bytesUploaded += blob.size
                if let progress {
                    let seconds = max(Double(MonotonicClock.now()) / 1e9 - started, 1e-6)
                    progress("\(blob.digest.short): \(ByteSize.format(UInt64(blob.size))) in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(blob.size) / seconds / 1e6)) MB/s)")
                }
            }
        }
        let bytes = try oci.document(image.manifest.digest)
        let tag = reference.tag ?? reference.digest ?? "latest"
        var put = RegistryClient.Call(method: .PUT, url: client.base + "/v2/\(repository)/manifests/\(tag)", scope: scope, what: "manifest \(repository):\(tag)")
        put.headers.add(name: "Content-Type", value: OCI.MediaType.manifests.contains(image.manifest.mediaType) ? image.manifest.mediaType : OCI.MediaType.manifest)
        put.body = { .bytes(ByteBuffer(bytes: bytes)) }
        let response = try await client.send(put)
        _ = try? await response.body.collect(upTo: 64 << 10)
        guard response.status == .created else { throw await client.failure(response, put) }
        if let digest = response.headers.first(name: "Docker-Content-Digest"), digest != image.manifest.digest.description {
            throw LabError(.failed, "the registry stored the manifest as \(digest), not \(image.manifest.digest): it changed the bytes")
        }
        return result
    }

    /// One blob up: a mount when `mountFrom` has it (true), else `POST` an
    /// upload and `PUT` the whole blob to its location. A failed `PUT` ends
    /// the upload session, so a retry starts again at the `POST`.
    func upload(_ blob: OCI.Descriptor, repository: String, mountFrom: String?, client: RegistryClient, scope: String) async throws -> Bool {
        let path = oci.blobPath(blob.digest)
        guard FileSystem.fileSize(path).map({ Int64($0) }) == blob.size else {
            throw LabError(.failed, "blob \(blob.digest.short) is missing from the store or damaged; import or pull the image again")
        }
        var attempt = 0
        var mounting = mountFrom != nil
        while true {
            attempt += 1
            var url = client.base + "/v2/\(repository)/blobs/uploads/"
            if let mountFrom, mounting { url += "?mount=\(blob.digest)&from=\(mountFrom)" }
            let post = RegistryClient.Call(method: .POST, url: url, scope: scope, what: "upload of blob \(blob.digest.short)")
            let started = try await client.send(post)
            _ = try? await started.body.collect(upTo: 64 << 10)
            if mounting {
                if started.status == .created { return true }
                // No right to read the other repository: an upload of its own instead.
                if started.status == .unauthorized || started.status == .forbidden {
                    mounting = false
                    continue
                }
            }
            mounting = false
            guard started.status == .accepted, let location = started.headers.first(name: "Location"),
                  let resolved = URL(string: location, relativeTo: URL(string: url))?.absoluteString else {
                throw await client.failure(started, post)
            }
            // The deadline runs until the registry answers, so it covers the
            // whole body: sized for a slow link (64 KiB/s), idle reads bounded apart.
            var put = RegistryClient.Call(method: .PUT, url: resolved + (resolved.contains("?") ? "&" : "?") + "digest=\(blob.digest)", scope: scope,
                                          timeout: .seconds(60 + blob.size / 65_536), retries: false, what: "upload of blob \(blob.digest.short)")
            put.headers.add(name: "Content-Type", value: "application/octet-stream")
            let size = blob.size
            put.body = { .stream(FileChunks(path: path, size: size), length: .known(size)) }
            // A failed PUT ends the upload session: a retry starts again at the POST.
            do {
                let response = try await client.send(put)
                if response.status == .created {
                    _ = try? await response.body.collect(upTo: 64 << 10)
                    return false
                }
                let error = await client.failure(response, put)
                // A registry out of space, or refusing the digest: no retry helps.
                guard RegistryClient.isTransient(response.status) || response.status == .internalServerError,
                      !error.message.contains("out of space"), attempt < client.attempts else { throw error }
            } catch let error as LabError {
                throw error
            } catch {
                if error is CancellationError { throw error }
                guard attempt < client.attempts else { throw client.describe(error, put) }
            }
            try await client.pause(attempt, retryAfter: nil)
        }
    }
}

/// A stored file as an upload's body, 1 MiB at a time, read only as the
/// connection takes it.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let size: Int64

    final class AsyncIterator: AsyncIteratorProtocol {
        let fd: Int32
        var left: Int64
        let path: String

        init(path: String, size: Int64) {
            self.path = path
            fd = open(path, O_RDONLY | O_CLOEXEC)
            left = size
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard fd >= 0 else { throw LabError.syscall("open \(path)") }
            guard left > 0 else { return nil }
            var buffer = ByteBuffer()
            let want = Int(Swift.min(left, 1 << 20))
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw -> Int in
                while true {
                    let n = read(fd, raw.baseAddress, want)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw LabError(.failed, "\(path) ended early, or could not be read, while it was uploaded") }
                    return n
                }
            }
            left -= Int64(n)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, size: size) }
}
