import HTTPTypes

/// A POST that asks its backend to run another method: Rails (`Rack::MethodOverride`), Laravel and Symfony read a
/// `_method` parameter of a POST, in its query or its form body, and run `DELETE /items/5` for
/// `POST /items/5` with `_method=DELETE`. The gateway authorizes, prices and binds the method it sees, so such a request
/// would buy one method's work at another's price and scope. The override headers are removed before forwarding
/// (`Gateway.strippedRequestFields`); a `_method` parameter cannot be removed without changing what was signed and
/// paid for, so the request is refused.
enum MethodOverride {
    static let parameter = "_method"

    /// Where a POST names another method (`query` or `body`); nil when it does not, and for any other method.
    static func named(in request: GatewayRequest) -> String? {
        guard request.method == .post else { return nil }
        if QueryString.items(request.target).contains(where: { $0.name == parameter }) { return "query" }
        let type = request.headerFields[.contentType]?.lowercased() ?? ""
        if type.hasPrefix("application/x-www-form-urlencoded"),
           QueryString.items("?" + String(decoding: request.body, as: UTF8.self)).contains(where: { $0.name == parameter }) {
            return "body"
        }
        // A multipart part named `_method` (`Content-Disposition: form-data; name="_method"`), however the name is quoted.
        if type.hasPrefix("multipart/form-data"), containsPartName(request.body) { return "body" }
        return nil
    }

    private static func containsPartName(_ body: [UInt8]) -> Bool {
        let lowered = body.lazy.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
        // In a part's `Content-Disposition`, not in a file's contents that merely mention it.
        let needles = ["form-data; name=\"_method\"", "form-data;name=\"_method\"", "form-data; name=_method", "form-data;name=_method"]
            .map { Array($0.utf8) }
        let bytes = Array(lowered)
        return needles.contains { needle in
            guard bytes.count >= needle.count else { return false }
            return (0...(bytes.count - needle.count)).contains { start in bytes[start..<(start + needle.count)].elementsEqual(needle) }
        }
    }
}
