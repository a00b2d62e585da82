import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing
@testable import TollgateAdmin
import TollgateCore
import TollgateSQLite

/// The admin API's OpenAPI document (`Admin/openapi.json`) against the router that serves it. The
/// schemathesis run in `Tests/Interop/test_admin_openapi.py` checks every operation's behaviour.
@Suite struct AdminOpenAPITests {
    static let token = AdminAPITests.token

    /// The router as `GatewayServer` builds it (metrics included), on a fresh SQLite store.
    static func router(_ fixture: AdminAPITests.Fixture) -> Router<BasicRequestContext> {
        AdminAPI.router(store: fixture.store, controls: fixture.controls, token: Array(token.utf8), metrics: MetricsExposition(registry: PrometheusCollectorRegistry(), metrics: nil), logger: Listener.quiet)
    }

    static func document(_ client: any TestClientProtocol) async throws -> [String: Any] {
        let response = try await client.execute(uri: "/admin/openapi.json", method: .get, headers: AdminAPITests.headers())
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "application/json")
        return try AdminAPITests.object(response)
    }

    @Test func theServedDocumentIsOpenAPI31() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Application(router: Self.router(fixture), logger: Listener.quiet).test(.router) { client in
            let document = try await Self.document(client)
            let version = try #require(document["openapi"] as? String)
            #expect(version.hasPrefix("3.1."))
            let schemes = (document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]]
            #expect(schemes?["adminToken"]?["scheme"] as? String == "bearer")
            #expect(document["security"] as? [[String: [String]]] == [["adminToken": []]])

            let denied = try await client.execute(uri: "/admin/openapi.json", method: .get, headers: AdminAPITests.headers(token: nil))
            #expect(denied.status == .unauthorized)
        }
    }

    /// Every route the router registers is a documented operation, and every documented operation a route.
    @Test func everyRouteIsDocumented() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        let router = Self.router(fixture)
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        try await Application(router: router, logger: Listener.quiet).test(.router) { client in
            let document = try await Self.document(client)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let methods: Set = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
            let documented = Set(paths.flatMap { path, item in item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })
            #expect(routed.subtracting(documented).isEmpty, "routes missing from openapi.json")
            #expect(documented.subtracting(routed).isEmpty, "documented operations with no route")
            #expect(routed.contains("POST /admin/refunds/{id}/close"))
            #expect(routed.contains("GET /metrics"))
        }
    }

    /// `docs/admin-openapi.json` is the served document itself (a symlink), not a copy that can drift.
    @Test func theDocsCopyIsTheServedFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let docs = try Data(contentsOf: root.appendingPathComponent("docs/admin-openapi.json"))
        let source = try Data(contentsOf: root.appendingPathComponent("Sources/TollgateAdmin/Admin/openapi.json"))
        #expect(docs == source)
    }

    @Test func aWrongMethodIs405WithAllowAndAWrongPathA404() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Application(router: Self.router(fixture), logger: Listener.quiet).test(.router) { client in
            let patch = try await client.execute(uri: "/admin/refunds", method: .patch, headers: AdminAPITests.headers())
            #expect(patch.status == .methodNotAllowed)
            #expect(patch.headers[.allow] == "GET, POST")
            #expect(try AdminAPITests.object(patch)["error"] as? String == "method_not_allowed")
            let put = try await client.execute(uri: "/admin/revocations/client/alice", method: .put, headers: AdminAPITests.headers())
            #expect(put.status == .methodNotAllowed)
            #expect(put.headers[.allow] == "DELETE")
            let nowhere = try await client.execute(uri: "/admin/nowhere", method: .get, headers: AdminAPITests.headers())
            #expect(nowhere.status == .notFound)
            #expect(try AdminAPITests.object(nowhere)["error"] as? String == "not_found")
            // Still behind the token.
            let anonymous = try await client.execute(uri: "/admin/refunds", method: .patch, headers: AdminAPITests.headers(token: nil))
            #expect(anonymous.status == .unauthorized)
        }
    }

    /// A temporary directory, removed after `body`.
    static func withDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-openapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(directory)
    }

    /// The binary as installed: its bundle was found (by the lookup that replaced `Bundle.module`).
    @Test func theShippedDocumentIsFound() throws {
        guard case .found(let document, let file) = AdminOpenAPIDocument.shipped else {
            Issue.record("the OpenAPI document was not found: \(AdminOpenAPIDocument.shipped)")
            return
        }
        #expect(file.lastPathComponent == "openapi.json")
        #expect(file.deletingLastPathComponent().lastPathComponent == AdminOpenAPIDocument.bundleName)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        #expect(Data(document.readableBytesView) == (try Data(contentsOf: root.appendingPathComponent("Sources/TollgateAdmin/Admin/openapi.json"))))
    }

    /// No bundle anywhere (or a bundle without the file): no trap, `.missing` with every place searched, once each.
    @Test func aMissingBundleIsReportedNotATrap() async throws {
        try await Self.withDirectory { directory in
            let empty = directory.appendingPathComponent("empty", isDirectory: true)
            let hollow = directory.appendingPathComponent("hollow", isDirectory: true)
            let absent = directory.appendingPathComponent("absent", isDirectory: true)
            try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            // A bundle directory without openapi.json, and a file (not a directory) named like the bundle.
            try FileManager.default.createDirectory(at: hollow.appendingPathComponent(AdminOpenAPIDocument.bundleName), withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: empty.appendingPathComponent(AdminOpenAPIDocument.bundleName))
            let lookup = AdminOpenAPIDocument.load(searching: [empty, hollow, absent, empty])
            guard case .missing(let searched) = lookup else {
                Issue.record("found a document where there is none: \(lookup)")
                return
            }
            #expect(searched.map(\.path) == [empty, hollow, absent].map(\.standardizedFileURL.path))
            #expect(AdminOpenAPIDocument.load(searching: []).isMissing)
        }
    }

    /// The first directory holding the bundle wins; the ones before it are skipped.
    @Test func theFirstBundleFoundIsRead() async throws {
        try await Self.withDirectory { directory in
            func bundle(_ name: String, _ text: String) throws -> URL {
                let holder = directory.appendingPathComponent(name, isDirectory: true)
                let bundle = holder.appendingPathComponent(AdminOpenAPIDocument.bundleName, isDirectory: true)
                try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
                try Data(text.utf8).write(to: bundle.appendingPathComponent("openapi.json"))
                return holder
            }
            let first = try bundle("first", #"{"openapi":"3.1.0","first":true}"#)
            let second = try bundle("second", #"{"openapi":"3.1.0","first":false}"#)
            let lookup = AdminOpenAPIDocument.load(searching: [directory.appendingPathComponent("absent"), first, second])
            guard case .found(let document, let file) = lookup else {
                Issue.record("not found: \(lookup)")
                return
            }
            #expect(String(buffer: document) == #"{"openapi":"3.1.0","first":true}"#)
            #expect(file.standardizedFileURL.path.hasPrefix(first.standardizedFileURL.path))
        }
    }

    /// What `GET /admin/openapi.json` answers without the document: 503 with the documented problem, as JSON.
    @Test func aMissingDocumentIsA503Problem() async throws {
        let router = Router(context: BasicRequestContext.self)
        let missing = AdminOpenAPIDocument.Lookup.missing(searched: [URL(fileURLWithPath: "/nonexistent")])
        router.get("/admin/openapi.json") { _, _ in AdminOpenAPIDocument.response(missing, logger: Listener.quiet) }
        try await Application(router: router, logger: Listener.quiet).test(.router) { client in
            let response = try await client.execute(uri: "/admin/openapi.json", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.contentType] == "application/json")
            let problem = try AdminAPITests.object(response)
            #expect(problem["error"] as? String == "service_unavailable")
            #expect(problem["reason"] as? String == "openapi_document_missing")
            #expect((problem["detail"] as? String)?.contains(AdminOpenAPIDocument.bundleName) == true)
            #expect(Set(problem.keys) == ["error", "reason", "detail"])
        }
        // …and that is the 503 the document gives for this operation.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try #require(JSONSerialization.jsonObject(
            with: Data(contentsOf: root.appendingPathComponent("Sources/TollgateAdmin/Admin/openapi.json"))) as? [String: Any])
        let operation = ((document["paths"] as? [String: Any])?["/admin/openapi.json"] as? [String: Any])?["get"] as? [String: Any]
        let unavailable = (operation?["responses"] as? [String: Any])?["503"] as? [String: String]
        #expect(unavailable?["$ref"] == "#/components/responses/OpenAPIDocumentMissing")
    }

    @Test func unknownBodyFieldsAreRefused() async throws {
        let fixture = try AdminAPITests.Fixture()
        defer { fixture.remove() }
        try await Application(router: Self.router(fixture), logger: Listener.quiet).test(.router) { client in
            let response = try await client.execute(uri: "/admin/revocations", method: .post, headers: AdminAPITests.headers(),
                                                    body: AdminAPITests.json(#"{"kind":"client","subject":"alice","reason":"x","reson":"y"}"#))
            #expect(response.status == .badRequest)
            #expect((try AdminAPITests.object(response)["reason"] as? String)?.contains("reson") == true)
        }
        #expect(try await fixture.store.loadControls() == ControlsSnapshot())
    }
}

extension AdminOpenAPIDocument.Lookup {
    var isMissing: Bool {
        if case .missing = self { true } else { false }
    }
}
