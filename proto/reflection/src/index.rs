//! The index: every file of the registered descriptor sets, kept as the
//! bytes it was registered with, and the names each one declares.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};

use crate::Error;

/// One registered file.
#[derive(Debug)]
pub(crate) struct File {
    /// Its name, e.g. `grpc/health/v1/health.proto`.
    pub(crate) name: String,
    /// The encoded `FileDescriptorProto` exactly as registered: prost drops
    /// unknown fields, so re-encoding a decoded descriptor would lose custom
    /// options (e.g. `google.api.http` annotations) that clients may use.
    pub(crate) encoded: Vec<u8>,
    /// The names of the files it imports, resolved to indices in `build`.
    pub(crate) imports: Vec<String>,
    /// Indices of the files it imports.
    pub(crate) deps: Vec<usize>,
}

/// Files and names, while descriptor sets are being added.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) files: Vec<File>,
    pub(crate) by_name: HashMap<String, usize>,
    /// Every fully-qualified symbol (no leading dot) to the file declaring it.
    pub(crate) symbols: HashMap<String, usize>,
    /// Extended message type (no leading dot) to extension number to file.
    pub(crate) extensions: HashMap<String, BTreeMap<i32, usize>>,
    /// The fully-qualified message types (extendable or not), for
    /// `all_extension_numbers_of_type` on a type that has no extension.
    pub(crate) messages: BTreeSet<String>,
    /// Every service of every file, fully qualified.
    pub(crate) services: BTreeSet<String>,
    /// The longest name that can be found: longer request names are not
    /// hashed at all.
    pub(crate) longest_name: usize,
}

impl Index {
    /// Adds the files of one encoded `FileDescriptorSet`. A file whose name
    /// is already registered is skipped (the first registration wins), so
    /// sets that share imports (`google/protobuf/*.proto`, or wirestate's own
    /// set beside a user's that includes health.proto) can all be added.
    pub(crate) fn add_set(&mut self, mut set: &[u8]) -> Result<(), Error> {
        while !set.is_empty() {
            let (field, wire_type) = key(&mut set)?;
            let value = skip(&mut set, wire_type)?;
            // `FileDescriptorSet.file = 1`; anything else is an unknown field.
            if field == 1 && wire_type == LEN {
                self.add_file(value)?;
            }
        }
        Ok(())
    }

    /// Adds one encoded `FileDescriptorProto`.
    pub(crate) fn add_file(&mut self, encoded: &[u8]) -> Result<(), Error> {
        let file = FileDescriptorProto::decode(encoded)?;
        let name = file.name().to_owned();
        if name.is_empty() {
            return Err(Error::UnnamedFile);
        }
        if self.by_name.contains_key(&name) {
            return Ok(());
        }
        let index = self.files.len();
        self.note(&name);
        self.by_name.insert(name.clone(), index);
        let scope = file.package().to_owned();
        for message in &file.message_type {
            self.message(&scope, message, index);
        }
        for e in &file.enum_type {
            self.enumeration(&scope, e, index);
        }
        for field in &file.extension {
            self.extension(&scope, field, index);
        }
        for service in &file.service {
            let full = join(&scope, service.name());
            for method in &service.method {
                self.symbol(join(&full, method.name()), index);
            }
            self.services.insert(full.clone());
            self.symbol(full, index);
        }
        self.files.push(File {
            name,
            encoded: encoded.to_vec(),
            imports: file.dependency,
            deps: Vec::new(),
        });
        Ok(())
    }

    /// Resolves every import to a registered file.
    pub(crate) fn link(&mut self) -> Result<(), Error> {
        for i in 0..self.files.len() {
            let mut deps = Vec::with_capacity(self.files[i].imports.len());
            for import in &self.files[i].imports {
                match self.by_name.get(import) {
                    Some(&d) => deps.push(d),
                    None => {
                        return Err(Error::MissingDependency {
                            file: self.files[i].name.clone(),
                            dependency: import.clone(),
                        });
                    }
                }
            }
            self.files[i].deps = deps;
        }
        Ok(())
    }

    fn note(&mut self, name: &str) {
        self.longest_name = self.longest_name.max(name.len());
    }

    /// Records a symbol; the first file to declare a name keeps it
    /// (protoc refuses duplicates within one set; across sets, the first
    /// registered wins, as for files).
    fn symbol(&mut self, name: String, file: usize) {
        self.note(&name);
        self.symbols.entry(name).or_insert(file);
    }

    fn message(&mut self, scope: &str, message: &DescriptorProto, file: usize) {
        let full = join(scope, message.name());
        for field in &message.field {
            self.symbol(join(&full, field.name()), file);
        }
        for oneof in &message.oneof_decl {
            self.symbol(join(&full, oneof.name()), file);
        }
        for nested in &message.nested_type {
            self.message(&full, nested, file);
        }
        for e in &message.enum_type {
            self.enumeration(&full, e, file);
        }
        for field in &message.extension {
            self.extension(&full, field, file);
        }
        self.messages.insert(full.clone());
        self.symbol(full, file);
    }

    /// An enum and its values: in protobuf, values are scoped like their
    /// enum's siblings (`pkg.SERVING`, not `pkg.Status.SERVING`), which is
    /// how protoc's and grpc-go's registries find them.
    fn enumeration(&mut self, scope: &str, e: &EnumDescriptorProto, file: usize) {
        for value in &e.value {
            self.symbol(join(scope, value.name()), file);
        }
        self.symbol(join(scope, e.name()), file);
    }

    fn extension(&mut self, scope: &str, field: &FieldDescriptorProto, file: usize) {
        self.symbol(join(scope, field.name()), file);
        let extendee = field.extendee().trim_start_matches('.');
        if !extendee.is_empty() {
            self.extensions
                .entry(extendee.to_owned())
                .or_default()
                .entry(field.number())
                .or_insert(file);
        }
    }
}

/// `scope.name`, or `name` at the top of a file without a package.
fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// Reads a field key: the field number and the wire type.
fn key(buf: &mut &[u8]) -> Result<(u64, u8), Error> {
    let key = varint(buf)?;
    Ok((key >> 3, (key & 7) as u8))
}

/// Reads a varint (at most ten bytes).
fn varint(buf: &mut &[u8]) -> Result<u64, Error> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or(Error::Truncated)?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::Malformed("a varint longer than ten bytes"))
}

/// Takes the value of a field of `wire_type` off `buf`: the bytes of a
/// length-delimited field, nothing useful for the others.
fn skip<'a>(buf: &mut &'a [u8], wire_type: u8) -> Result<&'a [u8], Error> {
    let len = match wire_type {
        VARINT => {
            varint(buf)?;
            return Ok(&[]);
        }
        I64 => 8,
        I32 => 4,
        LEN => usize::try_from(varint(buf)?).map_err(|_| Error::Truncated)?,
        // Groups (3, 4) are not in FileDescriptorSet; 6 and 7 do not exist.
        _ => return Err(Error::Malformed("an unexpected wire type")),
    };
    if len > buf.len() {
        return Err(Error::Truncated);
    }
    let (value, rest) = buf.split_at(len);
    *buf = rest;
    Ok(value)
}
