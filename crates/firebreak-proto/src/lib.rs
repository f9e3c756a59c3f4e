//! The firebreak.v1 wire contract: protobuf messages and gRPC stubs generated from
//! `proto/firebreak/v1`. Domain code converts to and from these at the edges only.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("firebreak.v1");

    /// The encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("firebreak_descriptor");
}
