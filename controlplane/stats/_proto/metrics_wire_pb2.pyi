from controlplane.stats._proto import metrics_service_pb2 as _metrics_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StreamMetricsFrame(_message.Message):
    __slots__ = ("identifier", "envoy_metrics")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    ENVOY_METRICS_FIELD_NUMBER: _ClassVar[int]
    identifier: _metrics_service_pb2.StreamMetricsMessage.Identifier
    envoy_metrics: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, identifier: _Optional[_Union[_metrics_service_pb2.StreamMetricsMessage.Identifier, _Mapping]] = ..., envoy_metrics: _Optional[_Iterable[bytes]] = ...) -> None: ...
