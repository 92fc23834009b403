import LabCore
import LabModel

extension ImageDefinition {
    /// Reads a standalone image file (strict YAML: errors name the file, the line and the field).
    public static func load(file path: String) throws -> ImageDefinition {
        try StrictYAML.decode(ImageDefinition.self, file: path)
    }
}
