# A peer for `shaderprop bench train` (not part of shaderprop; see README.md here):
# PyTorch CPU, seconds per epoch of the dense and conv autoencoder recipes on Fashion-MNIST.
#   python torch_ae.py dense|conv EPOCHS
import gzip, sys, time, numpy as np, torch, torch.nn as nn
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
IMAGES = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
model_kind = sys.argv[1]; epochs = int(sys.argv[2])
raw = np.frombuffer(gzip.open(IMAGES).read(), dtype=np.uint8, offset=16).reshape(60000, 784)
x_all = torch.from_numpy(raw.astype(np.float32) / 255.0)
if model_kind == 'dense':
    batch = 256
    m = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784))
else:
    batch = 128
    x_all = x_all.view(-1, 1, 28, 28)
    m = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(16, 1, 3, padding=1))
opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
loss_fn = nn.BCEWithLogitsLoss()
for e in range(epochs):
    t = time.perf_counter()
    perm = torch.randperm(60000)
    for s in range(60000 // batch):
        x = x_all[perm[s * batch:(s + 1) * batch]]
        opt.zero_grad()
        loss = loss_fn(m(x), x)
        loss.backward()
        opt.step()
    print(f'torch {torch.__version__} {model_kind} epoch {e}: {time.perf_counter() - t:.2f} s (loss {loss.item():.4f}, threads {torch.get_num_threads()})', flush=True)
