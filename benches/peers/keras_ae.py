# A peer for `shaderprop bench train` (not part of shaderprop; see README.md here):
# Keras (TensorFlow CPU), seconds per epoch of the dense and conv autoencoder recipes on Fashion-MNIST.
#   python keras_ae.py dense|conv EPOCHS
import gzip, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np, tensorflow as tf
import keras
from keras import layers
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)
IMAGES = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
kind = sys.argv[1]; epochs = int(sys.argv[2])
raw = np.frombuffer(gzip.open(IMAGES).read(), dtype=np.uint8, offset=16).reshape(60000, 784)
x = raw.astype(np.float32) / 255.0
if kind == 'dense':
    batch = 256
    inp = keras.Input((784,))
    out = layers.Dense(784, activation='sigmoid')(layers.Dense(32, activation='relu')(inp))
else:
    batch = 128
    x = x.reshape(-1, 28, 28, 1)
    inp = keras.Input((28, 28, 1))
    h = layers.Conv2D(16, 3, activation='relu', padding='same')(inp)
    h = layers.MaxPooling2D(2, padding='same')(h)
    h = layers.Conv2D(8, 3, activation='relu', padding='same')(h)
    h = layers.MaxPooling2D(2, padding='same')(h)
    h = layers.Conv2D(8, 3, activation='relu', padding='same')(h)
    h = layers.MaxPooling2D(2, padding='same')(h)
    h = layers.Conv2D(8, 3, activation='relu', padding='same')(h)
    h = layers.UpSampling2D(2)(h)
    h = layers.Conv2D(8, 3, activation='relu', padding='same')(h)
    h = layers.UpSampling2D(2)(h)
    h = layers.Conv2D(16, 3, activation='relu')(h)
    h = layers.UpSampling2D(2)(h)
    out = layers.Conv2D(1, 3, activation='sigmoid', padding='same')(h)
m = keras.Model(inp, out)
m.compile(optimizer='adam', loss='binary_crossentropy')
class T(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, e, logs=None): print(f'keras {keras.__version__} {kind} epoch {e}: {time.perf_counter() - self.t:.2f} s (loss {logs["loss"]:.4f})', flush=True)
m.fit(x, x, epochs=epochs, batch_size=batch, shuffle=True, verbose=0, callbacks=[T()])
