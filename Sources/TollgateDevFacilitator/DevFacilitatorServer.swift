import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TollgateCore
import TollgateX402

/// The HTTP face of the development facilitator: the standard facilitator API plus `/_dev/stats`.
public enum DevFacilitatorServer {
    public static func router(_ facilitator: DevFacilitator, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/supported") { _, _ in try await json(facilitator.supported(logger: logger)) }
        router.post("/verify") { request, _ in
            guard let body = try await decode(request) else { return badRequest() }
            return try await written(facilitator.verify(body, logger: logger))
        }
        router.post("/settle") { request, _ in
            guard let body = try await decode(request) else { return badRequest() }
            return try await written(facilitator.settle(body, logger: logger))
        }
        router.get("/_dev/stats") { _, _ in
            let count = try await facilitator.ledger.transferCount()
            return json(["transfers": count, "networks": facilitator.networks.count])
        }
        router.get("/_dev/balance/{network}/{asset}/{address}") { _, context in
            let balance = try await facilitator.ledger.balance(
                network: context.parameters.get("network") ?? "", asset: context.parameters.get("asset") ?? "",
                address: context.parameters.get("address") ?? "")
            return json(["balance": balance])
        }
        return router
    }

    /// The body parsed once, for the facilitator to use as it is.
    static func decode(_ request: Request) async throws -> X402.FacilitatorRequest.Contents? {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        return X402.FacilitatorRequest(body: Array(buffer.readableBytesView)).contents()
    }

    static func json(_ value: some Encodable) -> Response { ok(HeaderCodec.json(value)) }

    /// An answer every paid request gets, written without `JSONEncoder`.
    static func written(_ value: some JSONWritable) -> Response { ok(JSONWriter.bytes(value)) }

    private static func ok(_ json: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    static func badRequest() -> Response {
        Response(status: .badRequest, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: #"{"isValid":false,"invalidReason":"invalid_payload"}"#)))
    }
}
