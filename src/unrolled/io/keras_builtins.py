"""The names of Keras's built-in layer classes, as a static list (no Keras import).

Loading a file uses it to tell a layer unrolled has not implemented *yet* (a built-in Keras
layer: a missing feature, worth reporting) from one it refuses *on purpose* (a custom or
registered class, or a layer that would run code from the file). Taken from
``keras.layers`` of Keras 3.15 plus the Keras 2 / tf.keras 2.x names that Keras 3 dropped.
"""
from __future__ import annotations

# Layers that execute code, import modules or load foreign graphs: never loaded.
CODE_LAYERS = frozenset({
    "Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer", "Layer", "Wrapper",
})

# Model classes that can appear in a config; a subclassed model has its own name.
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})

KERAS3_LAYERS = frozenset("""
Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add
AdditiveAttention AlphaDropout Attention AugMix AutoContrast Average AveragePooling1D
AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D BatchNormalization
Bidirectional CategoryEncoding CenterCrop Concatenate
ContrastLimitedAdaptiveHistogramEqualization Conv1D Conv1DTranspose Conv2D Conv2DTranspose
Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Convolution1D Convolution1DTranspose
Convolution2D Convolution2DTranspose Convolution3D Convolution3DTranspose Cropping1D
Cropping2D Cropping3D CutMix Dense DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout
ELU EinsumDense Embedding Equalization Flatten GRU GRUCell GaussianDropout GaussianNoise
GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalAvgPool1D
GlobalAvgPool2D GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D
GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization
GroupQueryAttention HashedCrossing Hashing Identity InputLayer IntegerLookup LSTM LSTMCell
LayerNormalization LeakyReLU Masking MaxNumBoundingBoxes MaxPool1D MaxPool2D MaxPool3D
MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp
MultiHeadAttention Multiply Normalization PReLU Permute Pipeline RMSNormalization RNN
RandAugment RandomBrightness RandomColorDegeneration RandomColorJitter RandomContrast
RandomCrop RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur
RandomGrayscale RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation
RandomSaturation RandomSharpness RandomShear RandomTranslation RandomZoom ReLU RepeatVector
Rescaling Reshape Resizing ReversibleEmbedding STFTSpectrogram SeparableConv1D
SeparableConv2D SeparableConvolution1D SeparableConvolution2D SimpleRNN SimpleRNNCell Softmax
Solarization SpatialDropout1D SpatialDropout2D SpatialDropout3D SpectralNormalization
StackedRNNCells StringLookup Subtract TextVectorization TimeDistributed UnitNormalization
UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
""".split())

# In Keras 2 / tf.keras 2.x files only.
KERAS2_LAYERS = frozenset("""
CuDNNLSTM CuDNNGRU ThresholdedReLU LocallyConnected1D LocallyConnected2D DenseFeatures
AbstractRNNCell PeepholeLSTMCell MultiHeadAttention Merge
""".split())

BUILTIN_LAYERS = (KERAS3_LAYERS | KERAS2_LAYERS) - CODE_LAYERS


def kind_of(class_name: str) -> str:
    """``"model"``, ``"builtin"`` (a Keras layer), ``"code"`` (refused: runs code) or
    ``"custom"`` (not a Keras class: a user's own, refused)."""
    if class_name in MODEL_CLASSES:
        return "model"
    if class_name in CODE_LAYERS:
        return "code"
    if class_name in BUILTIN_LAYERS:
        return "builtin"
    return "custom"
