"""A tour of ADict: structural hashing, auto-nesting, files. Run by `make demo`."""

from ato.adict import ADict

config1 = ADict(lr=0.1, epochs=100, model="resnet50")
config2 = ADict(lr=0.01, epochs=200, model="resnet101")
config3 = ADict(lr=0.1, epochs="100", model="resnet50")
print("same structure, other values:", config1.get_structural_hash() == config2.get_structural_hash())
print("epochs became a str:         ", config1.get_structural_hash() == config3.get_structural_hash())

config = ADict.auto()
config.model.backbone.layers = [64, 128, 256]
config.train.lr = 0.001
config.dump("config.xyz")
print("\nconfig.xyz:")
print(open("config.xyz").read())
assert ADict.from_file("config.xyz") == config
