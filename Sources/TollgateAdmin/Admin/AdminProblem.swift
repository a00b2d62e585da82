import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TollgateCore

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

    /// A refused refund: 404 for an unknown flow or refund, 409 when the state forbids it, 400 otherwise.
    init(_ refused: TollgateError) {
        switch refused.code {
        case .notFound, .unknownRefund: self.init(.notFound, refused.code.rawValue, refused.message)
        case .exceedsPaid, .alreadyRefunded, .notPending, .unitsSpent, .idempotencyConflict, .payoutTransactionUsed: self.init(.conflict, refused.code.rawValue, refused.message)
        default: self.init(.badRequest, "bad_request", refused.message)
        }
    }

    var response: Response { AdminJSON.response(["error": error, "reason": reason], status: status) }

    /// Runs a handler: a refusal becomes its response, any other error a 503 (nothing thrown reaches Hummingbird).
    static func answer(logger: Logger, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let problem as AdminProblem {
            return problem.response
        } catch let refused as TollgateError where refused.isRefundRefusal {
            return AdminProblem(refused).response
        } catch {
            logger.error("admin request failed", metadata: ["tollgate.error": "\(error)"])
            // A commit whose answer was lost may have been recorded: never "nothing changed".
            return AdminProblem(.serviceUnavailable, "store_unavailable", "the store could not be read or written, and a change sent may or may not "
                                + "have been recorded: read it back before sending it again (a refund: send it again with the same Idempotency-Key)")
                .response
        }
    }
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

    /// Decodes the request body; anything that is not the expected JSON object is a 400, never a 500.
    /// A field the body type does not know is refused too: a misspelt optional field (`"ammount"`) must
    /// not silently mean its default.
    static func decode<T: AdminRequestBody>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: AdminAPI.maxBodyBytes)
        } catch {
            throw AdminProblem.badRequest("the body must be JSON of at most \(AdminAPI.maxBodyBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(Strict<T>.self, from: Data(buffer.readableBytesView)).value
        } catch let problem as AdminProblem {
            throw problem
        } catch DecodingError.keyNotFound(let key, _) {
            throw AdminProblem.badRequest("missing field \(key.stringValue)")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw AdminProblem.badRequest("wrong type for \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw AdminProblem.badRequest("the body is not valid JSON")
        }
    }
}

/// A request body of the admin API: a JSON object with only these fields.
protocol AdminRequestBody: Decodable {
    static var fields: Set<String> { get }
}

/// Decodes `T` after checking that the object has no field `T` does not know.
private struct Strict<T: AdminRequestBody>: Decodable {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    let value: T

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = object.allKeys.first(where: { !T.fields.contains($0.stringValue) }) {
            throw AdminProblem.badRequest("unknown field \(unknown.stringValue.prefix(64).debugDescription); expected \(T.fields.sorted().joined(separator: ", "))")
        }
        value = try T(from: decoder)
    }
}
