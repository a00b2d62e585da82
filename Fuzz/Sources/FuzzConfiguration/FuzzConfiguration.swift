// Fuzz target: the configuration loader (`ConfigurationLoader.parse`): YAML (Yams, libyaml) and every
// section reader behind it. The input is the text of a configuration file (lossily decoded as UTF-8, as
// the loader's callers do). Refusing a text, with any number of issues, is fine; crashing, hanging or
// leaking is not. An accepted configuration has no issue of severity error among its warnings.
import CLibFuzzer
import TollgateHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    switch Result(catching: { () throws(ConfigurationError) in try ConfigurationLoader.parse(text, file: "fuzz.yaml") }) {
    case .success(let (_, warnings)):
        precondition(!warnings.contains { $0.severity == .error }, "an accepted configuration carries an error")
    case .failure(let error):
        _ = "\(error)"
    }
    return 0
}

/// libFuzzer's driver as this executable's entry point. SwiftPM links `main` to `<module>_main` (so tests
/// could import executables); this is that symbol, doing what libFuzzer's own `main` does.
@_cdecl("FuzzConfiguration_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else {
            var empty: UInt8 = 0
            return fuzz(&empty, 0)
        }
        return fuzz(data, size)
    }
}
