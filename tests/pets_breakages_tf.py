"""Four realistic mistakes in the Keras Pets lab (source/pets_lab/OxfordPetsTF.ipynb),
each of which must cost exactly the points of the task it breaks
(tests/test_pets_capstone.py applies them and grades the result with nbgrader).

BREAKAGES: name -> (solution grade_id, old text, new text, grade_id of the test that fails).
``old`` occurs exactly once in that solution cell; replacing it by ``new`` is the mistake.

In Keras the BatchNorm mistake lives in fine-tuning, not in the model: a frozen
BatchNormalization layer always runs in inference mode, and under ``fit`` Keras 3 hands the
outer ``training=True`` to the nested base whatever it was called with
(keras-team/keras#20285), so only ``unfreeze_top`` keeping BatchNorm frozen protects the
statistics once the base is unfrozen.
"""

BREAKAGES = {
    # random flips in the dataset function: validation and test images are augmented too
    "augment_validation": (
        "pipeline",
        "return tf.image.resize(image, (size, size)), label",
        "return tf.image.random_flip_left_right(tf.image.resize(image, (size, size))), label",
        "test_pipeline"),
    # BatchNorm layers unfrozen with the top of the base: their statistics train under fit
    "batchnorm_trains": (
        "finetune",
        "    for layer in base.layers:             # only a frozen BatchNorm layer keeps ImageNet's\n"
        "        if isinstance(layer, keras.layers.BatchNormalization):   # statistics under fit\n"
        "            layer.trainable = False\n",
        "",
        "test_finetune"),
    # early stopping keeps the last epoch's weights instead of the best one's
    "best_not_restored": (
        "training",
        "restore_best_weights=True",
        "restore_best_weights=False",
        "test_training"),
    # the rate at the lowest loss times ten instead of divided by ten
    "lr_100x": (
        "lr_finder",
        "return float(lrs[int(np.argmin(losses))] / 10)",
        "return float(lrs[int(np.argmin(losses))] * 10)",
        "test_lr_finder"),
}
