import Foundation
import HTTPTypes
import Hummingbird

/// A refused admin request: its status and the JSON body `{"error": <code>, "reason": <text>}`.
struct AdminProblem: Error, Sendable {
    var status: HTTPResponse.Status
    var error: String
    var reason: String

    init(_ status: HTTPResponse.Status, _ error: String, _ reason: String) {
        self.status = status
        self.error = error
        self.reason = reason
    }

    static func badRequest(_ reason: String) -> AdminProblem { AdminProblem(.badRequest, "bad_request", reason) }
    static func notFound(_ reason: String) -> AdminProblem { AdminProblem(.notFound, "not_found", reason) }

    var response: Response { AdminJSON.response(["error": error, "reason": reason], status: status) }
}

/// JSON in and out of the admin API.
enum AdminJSON {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every value encoded here is made of strings and integers: encoding cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes the request body; anything that is not the expected JSON is a 400, never a 500.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: AdminAPI.maxBodyBytes)
        } catch {
            throw AdminProblem.badRequest("the body must be JSON of at most \(AdminAPI.maxBodyBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch DecodingError.keyNotFound(let key, _) {
            throw AdminProblem.badRequest("missing field \(key.stringValue)")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw AdminProblem.badRequest("wrong type for \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw AdminProblem.badRequest("the body is not valid JSON")
        }
    }
}
