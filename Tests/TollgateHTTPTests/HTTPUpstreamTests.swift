import HTTPTypes
import Hummingbird
import Testing
import TollgateCore
import TollgateGateway

/// The upstream client: what it sends (the request as the gateway passed it, framed by the client itself) and what it
/// gives back (status, fields, the whole body), on the gateway's own connections.
@Suite struct HTTPUpstreamTests {
    static func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.on("/echo/{rest}", method: .post) { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Length")!] = request.headers[.contentLength] ?? "none"
            headers[HTTPField.Name("X-Target")!] = request.uri.description
            headers[HTTPField.Name("X-Seen")!] = request.headers[HTTPField.Name("X-Client")!] ?? "none"
            return Response(status: .created, headers: headers, body: .init(byteBuffer: body))
        }
        router.get("/big") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: 0x41, count: 64 * 1024))) }
        router.head("/big") { _, _ in Response(status: .ok, headers: [.contentLength: "65536"]) }
        router.get("/moved") { _, _ in Response(status: .found, headers: [.location: "http://127.0.0.1:1/elsewhere"]) }
        return router
    }

    @Test func sendsTheRequestAndReadsTheWholeAnswer() async throws {
        try await Listener.with(Self.router()) { port in
            let upstream = HTTPUpstream(baseURL: "http://127.0.0.1:\(port)/", timeoutSeconds: 10, maxResponseBytes: 32 * 1024)
            var fields = HTTPFields()
            fields[HTTPField.Name("X-Client")!] = "agent-7"
            let posted = try await upstream.send(UpstreamRequest(method: .post, target: "/echo/a?q=1", headerFields: fields,
                                                                 body: Array(#"{"n":1}"#.utf8)))
            #expect(posted.status == .created && posted.body == Array(#"{"n":1}"#.utf8))
            #expect(posted.headerFields[HTTPField.Name("X-Length")!] == "7")
            #expect(posted.headerFields[HTTPField.Name("X-Target")!] == "/echo/a?q=1")
            #expect(posted.headerFields[HTTPField.Name("X-Seen")!] == "agent-7")
            // A POST without a body still says how long it is (some servers refuse one that does not: 411).
            let empty = try await upstream.send(UpstreamRequest(method: .post, target: "/echo/b", headerFields: [:], body: []))
            #expect(empty.headerFields[HTTPField.Name("X-Length")!] == "0" && empty.body.isEmpty)
            // A HEAD answer has no body whatever its length says, and the connection stays usable after it.
            let head = try await upstream.send(UpstreamRequest(method: .head, target: "/big", headerFields: [:], body: []))
            #expect(head.status == .ok && head.body.isEmpty)
            // A redirect is an answer, never followed; an answer over the limit is refused, not cut.
            let moved = try await upstream.send(UpstreamRequest(method: .get, target: "/moved", headerFields: [:], body: []))
            #expect(moved.status == .found && moved.headerFields[.location] == "http://127.0.0.1:1/elsewhere")
            await #expect(throws: TollgateError.self) {
                _ = try await upstream.send(UpstreamRequest(method: .get, target: "/big", headerFields: [:], body: []))
            }
            let bigger = HTTPUpstream(baseURL: "http://127.0.0.1:\(port)", timeoutSeconds: 10, maxResponseBytes: 1 << 20)
            #expect(try await bigger.send(UpstreamRequest(method: .get, target: "/big", headerFields: [:], body: [])).body.count == 64 * 1024)
        }
    }

    @Test func anUpstreamThatIsNotThereIsUnavailable() async throws {
        let upstream = HTTPUpstream(baseURL: "http://127.0.0.1:9", timeoutSeconds: 5, maxResponseBytes: 1024)
        do {
            _ = try await upstream.send(UpstreamRequest(method: .get, target: "/", headerFields: [:], body: []))
            Issue.record("an answer from nowhere")
        } catch let error as TollgateError {
            #expect(error.code == .upstreamUnavailable)
        }
    }
}
