"""Thin wrappers that dual-write an official SDK client's writes, so an application keeps its calls.

Each wrapper takes the application's own client on the **source** and a
:class:`~vectormigrate.zerodowntime.dualwriter.DualWriter`; the real client performs the source write exactly as
before (same arguments, same result, same exceptions), then the touched records are re-read through that client,
journaled and written to the target. Everything that is not a write is passed straight to the real client.

======================  ============================================================  =======================
SDK                     wrapper                                                       module
======================  ============================================================  =======================
qdrant-client           ``DualWriteQdrantClient(QdrantClient(...), dw)``              ``adapters.qdrant``
pymilvus                ``DualWriteMilvusClient(MilvusClient(...), dw)``              ``adapters.milvus``
pinecone                ``DualWritePineconeIndex(pc.Index(...), dw)``                 ``adapters.pinecone``
weaviate-client (v4)    ``dual_write_collection(client.collections.get(...), dw)``    ``adapters.weaviate``
======================  ============================================================  =======================

Each module imports its SDK only when the wrapper is used: ``from vectormigrate.zerodowntime.adapters.qdrant
import DualWriteQdrantClient``.
"""
