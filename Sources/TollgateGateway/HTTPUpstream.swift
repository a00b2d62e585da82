import AsyncHTTPClient
import HTTPTypes
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateX402

/// The backend reached over HTTP with async-http-client. Responses are buffered (up to a limit)
/// because a paid response is only released after settlement.
public struct HTTPUpstream: Upstream {
    let baseURL: String
    let timeout: TimeAmount
    let maxResponseBytes: Int
    let client: HTTPClient

    public init(baseURL: String, timeoutSeconds: Double, maxResponseBytes: Int, client: HTTPClient = .noRedirects) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        self.maxResponseBytes = maxResponseBytes
        self.client = client
    }

    public func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var outgoing = HTTPClientRequest(url: baseURL + request.target)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headerFields { outgoing.headers.add(name: field.name.rawName, value: field.value) }
        if !request.body.isEmpty { outgoing.body = .bytes(ByteBuffer(bytes: request.body)) }
        let response: HTTPClientResponse
        var body: ByteBuffer
        do {
            response = try await client.execute(outgoing, timeout: timeout)
            body = try await response.body.collect(upTo: maxResponseBytes)
        } catch is NIOTooManyBytesError {
            throw TollgateError(.upstreamUnavailable, "the upstream response is larger than \(maxResponseBytes) bytes")
        } catch {
            throw TollgateError(.upstreamUnavailable, "\(error)")
        }
        var fields = HTTPFields()
        for header in response.headers {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        return UpstreamResponse(status: HTTPResponse.Status(code: Int(response.status.code)), headerFields: fields,
                                body: body.readBytes(length: body.readableBytes) ?? [])
    }
}
