import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The admin API's OpenAPI document (`Admin/openapi.json`, a SwiftPM resource), served at `GET /admin/openapi.json`.
///
/// It is found without `Bundle.module`: SwiftPM's generated accessor (`resource_bundle_accessor.swift`) calls
/// `fatalError` when the bundle is neither beside the executable (`Bundle.main.bundleURL`) nor in the build
/// directory it was compiled in, so a `tollgate` binary installed without its bundle would crash on the first
/// request for the document. This looks in those places itself, reads the file once, and the route answers
/// `503` `openapi_document_missing` when it is in none of them; everything else keeps working.
enum AdminOpenAPIDocument {
    /// The bundle SwiftPM builds for this target's resources (`<package>_<target>`), installed beside the binary.
    #if os(macOS)
    static let bundleName = "Tollgate_TollgateAdmin.bundle"
    #else
    static let bundleName = "Tollgate_TollgateAdmin.resources"
    #endif

    enum Lookup: Sendable {
        /// The document's bytes, and the file they were read from.
        case found(ByteBuffer, URL)
        /// In none of these directories (each searched for `<bundleName>/openapi.json`).
        case missing(searched: [URL])
    }

    /// The shipped document, looked up and read once, on the first request for it.
    static let shipped: Lookup = load(searching: defaultDirectories())

    /// Where `Bundle.module` looks, in its order, plus the executable's real directory:
    /// 1. `Bundle.main.bundleURL` (the executable's directory, as Foundation names it);
    /// 2. the directory of the executable with symlinks resolved (a `tollgate` linked into `/usr/local/bin`);
    /// 3. the build directory of this source tree (`<package>/.build/debug` or `release`, SwiftPM's link to
    ///    `<triple>/<configuration>`), where `swift build` leaves the bundle; absent once installed elsewhere.
    static func defaultDirectories(sourceFile: String = #filePath) -> [URL] {
        var directories = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL {
            directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        // …/Sources/TollgateAdmin/Admin/AdminOpenAPIDocument.swift → the package root.
        let package = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        #if DEBUG
        directories.append(package.appendingPathComponent(".build/debug", isDirectory: true))
        #else
        directories.append(package.appendingPathComponent(".build/release", isDirectory: true))
        #endif
        return directories
    }

    /// The first readable `<bundleName>/openapi.json` in `directories`; never traps.
    static func load(searching directories: [URL], bundleName: String = bundleName) -> Lookup {
        var searched: [URL] = []
        for directory in directories {
            let directory = directory.standardizedFileURL
            guard !searched.contains(directory) else { continue }
            searched.append(directory)
            let bundleURL = directory.appendingPathComponent(bundleName, isDirectory: true)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: bundleURL.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            // `Bundle(url:)` knows the platform's layout (flat on Linux, Contents/Resources on macOS); the plain path is the fallback.
            let candidates = [Bundle(url: bundleURL)?.url(forResource: "openapi", withExtension: "json"),
                              bundleURL.appendingPathComponent("openapi.json")].compactMap { $0 }
            for file in candidates {
                if let data = try? Data(contentsOf: file), !data.isEmpty { return .found(ByteBuffer(bytes: data), file) }
            }
        }
        return .missing(searched: searched)
    }

    /// `200` with the document, or `503` `{"error":"service_unavailable","reason":"openapi_document_missing","detail":…}`.
    static func response(_ lookup: Lookup, logger: Logger) -> Response {
        switch lookup {
        case .found(let document, _):
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: document))
        case .missing(let searched):
            logger.error("the admin API's OpenAPI document is missing: install \(bundleName) beside the tollgate binary",
                         metadata: ["tollgate.searched": .array(searched.map { .string($0.path) })])
            return AdminJSON.response(
                ["error": "service_unavailable", "reason": "openapi_document_missing",
                 "detail": "the OpenAPI document (openapi.json in \(bundleName)) was not found beside the tollgate binary; "
                     + "every other admin route works. The same document is docs/admin-openapi.json in the source tree."],
                status: .serviceUnavailable)
        }
    }
}
